"""The architecture's boundaries, checked: which layer may import which, no import circles, and make's
prerequisites of every stage covering every module the stage's process really imports.

The prerequisite test is the one that would have caught the old stale-output bug: pipeline/frame.py (now
pipeline/study/vocabulary.py) was imported by validate and analyse but listed in neither rule, so editing it
left the validated data and the tables stale.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.dependencies import _direct_imports, closure, module_path
from pipeline.core.paths import PROJECT_ROOT
from pipeline.stages import CHAIN

# Which layers each layer may import (by the folder under pipeline/). The survey engine stays reusable by
# another survey; core knows no stage; stages talk to each other only through files.
ALLOWED = {
    "core": {"core"},
    "survey": {"survey"},
    "study": {"core", "study", "survey"},
    "stages": {"core", "study", "survey", "stages"},
    "figures": {"core", "study", "survey", "figures"},
    "synthetic": {"core", "study", "survey", "synthetic"},
    "checks": {"core", "study", "survey", "stages", "figures", "synthetic", "checks"},
}
# The first target of each stage's rule, and the module its command runs.
STAGE_TARGETS = {
    "ingest": ("data/processed/responses_coordinator.parquet", "pipeline.stages.ingest"),
    "validate": ("data/processed/valid_coordinator.parquet", "pipeline.stages.validate"),
    "derive": ("data/processed/analysis_base.parquet", "pipeline.stages.derive"),
    "analyse": ("analysis/tables/estimates.csv", "pipeline.stages.analyse"),
    "figures": ("figures/forest.png", "pipeline.figures.__main__"),
    "report": ("analysis/report.html", "pipeline.stages.report"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((PROJECT_ROOT / "pipeline").rglob("*.py")):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ALLOWED) else None


def test_every_layer_imports_only_the_layers_below_it():
    wrong = []
    for module, path in _modules().items():
        layer = _layer(module)
        if layer is None:
            continue
        allowed = ALLOWED[layer] | {layer}
        for imported in _direct_imports(path, module):
            target = _layer(imported)
            if module_path(imported) is None or target is None:
                continue
            if target not in allowed:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_the_engine_imports_nothing_from_the_pipeline():
    for module in (m for m in _modules() if m.startswith("pipeline.survey")):
        imported = [
            name
            for name in _direct_imports(_modules()[module], module)
            if module_path(name) is not None and not name.startswith("pipeline.survey")
        ]
        assert imported == [], module


def _top_level_imports(path: Path, module: str) -> set[str]:
    """The pipeline modules a file imports when it is imported (function-level imports run later)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.startswith("pipeline")}
    return {name for name in names if name in _modules() and name != module}


def test_no_import_circle():
    graph = {module: _top_level_imports(path, module) for module, path in _modules().items()}
    # Depth-first search for a back edge; report the circle it closes.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                return [*stack[stack.index(imported) :], imported]
            if imported not in state and (circle := visit(imported)):
                return circle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            assert visit(module) is None


def test_the_stage_chain_is_the_makefile_order():
    """The chain the stages package declares is the order the Makefile's `all` builds in."""
    assert CHAIN[:4] == ("ingest", "validate", "derive", "analyse") and CHAIN[-2:] == (
        "report",
        "spreadsheets",
    )
    from pipeline.cli import COMMANDS

    assert [name for name, command in COMMANDS.items() if command.in_chain] == list(CHAIN)


@pytest.fixture(scope="module")
def make_prerequisites() -> dict[str, set[str]]:
    """Each target's prerequisites as make's database has them after reading the Makefile."""
    database = subprocess.run(
        ["make", "-pnq", f"VENV={sys.prefix}", "all"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    rules: dict[str, set[str]] = {}
    for line in database.splitlines():
        target, colon, prerequisites = line.partition(": ")
        if colon and not line.startswith(("#", "\t", " ")) and "=" not in target:
            rules.setdefault(target, set()).update(prerequisites.split())
    return rules


def _imported_files(module: str) -> set[str]:
    """The pipeline files a fresh process imports to run the stage's command (figures: every figure)."""
    program = (
        "import importlib, sys\n"
        "import pipeline.cli\n"
        f"importlib.import_module({module!r})\n"
        "if 'figures' in sys.argv[1]:\n"
        "    from pipeline.core.codebook import load_codebook\n"
        "    from pipeline.core.config import load_config\n"
        "    from pipeline.figures import registry\n"
        "    for spec in registry(load_codebook(load_config().codebook)).values():\n"
        "        importlib.import_module(f'pipeline.figures.{spec.module}')\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None) or ''\n"
        "    if (getattr(m, '__name__', '') or '').split('.')[0] == 'pipeline' and f:\n"
        "        print(f)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, module],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {Path(line).resolve().relative_to(PROJECT_ROOT).as_posix() for line in result.stdout.split()}


@pytest.mark.parametrize("stage", list(STAGE_TARGETS))
def test_every_module_a_stage_imports_is_a_prerequisite_of_its_rule(stage, make_prerequisites):
    target, module = STAGE_TARGETS[stage]
    missing = sorted(_imported_files(module) - make_prerequisites[target])
    assert missing == [], f"{target}'s rule misses modules the {stage} stage imports"


def test_the_closure_finds_imports_inside_functions(tmp_path):
    """A module imported only inside a function is still a dependency (it runs when the stage runs)."""
    package = tmp_path / "pipeline"
    (package / "a").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text("")
    (package / "a" / "one.py").write_text("def f():\n    from pipeline.a import two\n")
    (package / "a" / "two.py").write_text("from . import three\n")
    (package / "a" / "three.py").write_text("")
    found = {p.relative_to(tmp_path).as_posix() for p in closure(["pipeline.a.one"], tmp_path)}
    assert found == {
        "pipeline/__init__.py",
        "pipeline/a/__init__.py",
        "pipeline/a/one.py",
        "pipeline/a/two.py",
        "pipeline/a/three.py",
    }
