"""The architecture's boundaries, checked: which layer may import which (imports by name through importlib
included), no stage importing another, no import circles, and make's prerequisites of every stage of the
chain covering every module the stage's process really imports.

The prerequisite test is the one that would have caught the old stale-output bug: pipeline/frame.py (now
pipeline/study/vocabulary.py) was imported by validate and analyse but listed in neither rule, so editing it
left the validated data and the tables stale.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.dependencies import _direct_imports, closure, module_path
from pipeline.core.paths import PROJECT_ROOT
from pipeline.stages import CHAIN
from tests import make_database

# Which layers each layer may import (by the folder under pipeline/). The survey engine stays reusable by
# another survey; core knows no stage; stages talk to each other only through files (a stage may import
# its own helper modules, pipeline/stages/<stage>_*.py: see test_no_stage_imports_another_stage).
ALLOWED = {
    "core": {"core"},
    "survey": {"survey"},
    "study": {"core", "study", "survey"},
    "readers": {"core", "study", "readers"},
    "stages": {"core", "study", "survey", "readers", "stages"},
    "figures": {"core", "study", "survey", "figures"},
    "synthetic": {"core", "study", "survey", "synthetic"},
    "checks": {"core", "study", "survey", "readers", "stages", "figures", "synthetic", "checks"},
    # A project outside the source tree (lsp-rap init, run): the stage order, never a stage's code.
    "project": {"core", "study", "stages", "project"},
}
# The first target of each stage's rule, and the module its command runs: every stage of the chain.
STAGE_TARGETS = {
    "ingest": ("data/processed/responses_coordinator.parquet", "pipeline.stages.ingest"),
    "validate": ("data/processed/valid_coordinator.parquet", "pipeline.stages.validate"),
    "derive": ("data/processed/analysis_base.parquet", "pipeline.stages.derive"),
    "analyse": ("analysis/tables/estimates.csv", "pipeline.stages.analyse"),
    "nonresponse": ("analysis/tables/nonresponse_frame_comparison.csv", "pipeline.stages.nonresponse"),
    "models": ("analysis/tables/primary_tests.csv", "pipeline.stages.models"),
    "measurement": ("analysis/tables/cfa_fit.csv", "pipeline.stages.measurement"),
    "improvement": ("analysis/improvement_tool.html", "pipeline.stages.improvement_tool"),
    "report-tables": ("analysis/report_tables.json", "pipeline.stages.report.table_export"),
    # The figure files are made from the stage's stamp, whose rule lists the code (the figures section).
    "figures": ("figures/.checked", "pipeline.figures.__main__"),
    "report": ("analysis/report.html", "pipeline.stages.report"),
    "spreadsheets": ("analysis/lsp_survey_tables.xlsx", "pipeline.stages.spreadsheets"),
}


@functools.cache  # read-only: the source tree does not change during a run
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


def importlib_targets(source: str) -> set[str]:
    """The pipeline modules or packages a file imports by name: ``importlib.import_module("pipeline.x")``,
    ``import_module(f"pipeline.figures.{name}")`` (the package: the literal text before the first
    placeholder) and ``__import__(...)``. The import statements are read by `_direct_imports`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name not in ("import_module", "__import__"):
            continue
        argument = node.args[0]
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            text = argument.value
        elif isinstance(argument, ast.JoinedStr) and argument.values:
            first = argument.values[0]
            text = first.value if isinstance(first, ast.Constant) else ""
        else:
            continue
        text = text.rstrip(".")
        if text == "pipeline" or text.startswith("pipeline."):
            found.add(text)
    return found


def _imports(path: Path, module: str) -> set[str]:
    """Everything a file imports: statements anywhere in the file and names given to importlib."""
    return set(_direct_imports(path, module)) | importlib_targets(path.read_text(encoding="utf-8"))


def test_importlib_strings_are_read():
    """A layer reaching down by name (as the registry once imported every figure module) is seen."""
    source = (
        "import importlib\n"
        "def build(name):\n"
        "    return importlib.import_module(f'pipeline.figures.{name}')\n"
        "__import__('pipeline.stages.analyse')\n"
        "importlib.import_module(name)\n"
    )
    assert importlib_targets(source) == {"pipeline.figures", "pipeline.stages.analyse"}


def test_every_layer_imports_only_the_layers_below_it():
    wrong = []
    for module, path in _modules().items():
        layer = _layer(module)
        if layer is None:
            continue
        allowed = ALLOWED[layer] | {layer}
        for imported in sorted(_imports(path, module)):
            target = _layer(imported)
            if module_path(imported) is None or target is None:
                continue
            if target not in allowed:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []


def _stage_of(module: str) -> str | None:
    """The chain stage a module of pipeline/stages/ belongs to: report_tables is the report stage's."""
    if not module.startswith("pipeline.stages."):
        return None
    name = module.split(".")[2]
    owners = [stage for stage in CHAIN if name == stage or name.startswith(f"{stage}_")]
    return max(owners, key=len) if owners else name


def test_no_stage_imports_another_stage():
    """Stages exchange data only through their files: what two of them share lives in study or the engine."""
    crossing = []
    for module, path in _modules().items():
        stage = _stage_of(module)
        if stage is None:
            continue
        for imported in sorted(_imports(path, module)):
            other = _stage_of(imported)
            if other is not None and other != stage and module_path(imported) is not None:
                crossing.append(f"{module} imports {imported}")
    assert crossing == []


def test_every_stage_of_the_chain_is_checked():
    assert set(STAGE_TARGETS) == set(CHAIN)


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
    return make_database.make_prerequisites()


# One process imports the libraries the stage server preloads, then forks a child per stage that imports
# the pipeline afresh, as make runs a stage under the stage server (pipeline/core/stage_server.py): which
# pipeline modules a stage imports does not depend on which third-party libraries are already loaded (none
# of them imports the pipeline), and the parent holds no pipeline module when it forks. One start-up and
# one import of pandas, scipy and plotnine instead of one per stage: about 1 CPU-s a stage.
_IMPORTED_FILES = """
import importlib, json, os, sys
from pipeline.core.stage_server import preload
preload()
for name in [name for name in sys.modules if name == "pipeline" or name.startswith("pipeline.")]:
    del sys.modules[name]
found = {}
for module in sys.argv[1:]:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        import pipeline.cli
        importlib.import_module(module)
        if "figures" in module:
            from pipeline.core.codebook import load_codebook
            from pipeline.core.config import load_config
            from pipeline.figures import figure_module, registry
            for spec in registry(load_codebook(load_config().codebook)).values():
                figure_module(spec)
        files = [
            getattr(m, "__file__", None)
            for m in list(sys.modules.values())
            if (getattr(m, "__name__", "") or "").split(".")[0] == "pipeline"
        ]
        with os.fdopen(writer, "w") as out:
            json.dump([f for f in files if f], out)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as answer:
        found[module] = json.load(answer)
    assert os.waitpid(pid, 0)[1] == 0, module
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def imported_files() -> dict[str, set[str]]:
    """The pipeline files a process imports to run each stage's command (figures: every figure)."""
    modules = [module for _, module in STAGE_TARGETS.values()]
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTED_FILES, *modules],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {
        module: {Path(f).resolve().relative_to(PROJECT_ROOT).as_posix() for f in files}
        for module, files in json.loads(result.stdout).items()
    }


# One worker runs these, so the imports are measured once.
@pytest.mark.xdist_group("stage_imports")
@pytest.mark.parametrize("stage", list(STAGE_TARGETS))
def test_every_module_a_stage_imports_is_a_prerequisite_of_its_rule(
    stage, make_prerequisites, imported_files
):
    target, module = STAGE_TARGETS[stage]
    # The child imported the command line and the stage itself (and so did not fail silently).
    files = imported_files[module]
    assert {
        "pipeline/cli.py",
        module_path(module, PROJECT_ROOT).relative_to(PROJECT_ROOT).as_posix(),
    } <= files
    missing = sorted(files - make_prerequisites[target])
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
