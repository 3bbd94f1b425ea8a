"""Which source files each command runs: the transitive closure of its imports inside ``pipeline``, read
from the code itself, so make's prerequisites are derived, never kept by hand.

``python -m pipeline dependencies OUT`` writes a makefile fragment defining ``SOURCES_<command>`` for every
command of ``pipeline.cli.COMMANDS``; the Makefile includes it and regenerates it when any module changes.
The figure stage also asks ``closure()`` at run time which code each figure is drawn with.

Standard library only (the fragment is made before the virtual environment exists), and no pipeline
import beyond this package, so it runs with any Python 3.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "pipeline"
# Every command's process imports the entry point first (python -m pipeline <command>).
ENTRY = ("pipeline.__main__", "pipeline.cli")


@cache  # asked for every name each command imports, attributes included: thousands of stat calls
def module_path(module: str, root: Path = ROOT) -> Path | None:
    """The file of a pipeline module or package, or None when the name is not one (an attribute)."""
    base = root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _parents(module: str) -> list[str]:
    """A module's enclosing packages, which Python imports first (pipeline, pipeline.stages, ...)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _statements(tree: ast.Module) -> Iterator[ast.stmt]:
    """Every statement of a module at any depth (in functions, classes, branches, handlers, cases), without
    walking expressions: an import is a statement, and skipping the expressions, most of the tree, makes
    the fragment (made before the first stage of a cold build) several times faster than ``ast.walk``."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                for child in reversed(children):
                    if isinstance(child, ast.stmt):
                        yield child
                    pending.append(child)


@cache
def _direct_imports(path: Path, module: str) -> tuple[str, ...]:
    """The pipeline modules one file imports, at any depth of the file (imports inside functions count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[str] = []
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                source = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                source = node.module or ""
            found.append(source)
            # "from pipeline.study import designs" imports the module pipeline.study.designs.
            found += [f"{source}.{alias.name}" for alias in node.names]
    if path.name == "__init__.py" and any(
        isinstance(node, ast.FunctionDef) and node.name == "__getattr__" for node in tree.body
    ):
        # A package that loads its submodules on first use (PEP 562, as pipeline.survey does) may run any
        # of them for a name imported from it: count them all.
        found += [f"{module}.{sibling.stem}" for sibling in sorted(path.parent.glob("*.py"))]
    return tuple(name for name in found if name == PACKAGE or name.startswith(PACKAGE + "."))


def closure(modules: Iterable[str], root: Path = ROOT) -> list[Path]:
    """Every file the given modules run when imported, their packages' __init__ files included, sorted."""
    seen: dict[str, Path] = {}
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        path = module_path(module, root)
        if path is None:
            continue
        seen[module] = path
        pending += _parents(module)
        pending += _direct_imports(path, module)
    return sorted(set(seen.values()))


def command_sources(module: str, root: Path = ROOT) -> list[str]:
    """The files, relative to the project root, that running one command (whose module is given) executes."""
    return [path.relative_to(root).as_posix() for path in closure((*ENTRY, module), root)]


def makefile_fragment(commands: dict[str, str], root: Path = ROOT) -> str:
    """``SOURCES_<command> := files...`` for every command (name -> module), dashes as underscores."""
    lines = [
        "# Generated by `python -m pipeline dependencies` from the code's imports: do not edit.",
        "# SOURCES_<command> is every pipeline file the command runs (its transitive imports).",
    ]
    for name, module in commands.items():
        lines.append(f"SOURCES_{name.replace('-', '_')} := {' '.join(command_sources(module, root))}")
    lines.append(f"FIGURE_CODE := {' '.join(figure_code(root))}")
    return "\n".join(lines) + "\n"


def figure_code(root: Path = ROOT) -> list[str]:
    """FIGURE_CODE: the figure modules the figure stage loads by name, and whatever they import beyond
    the stage's own code (SOURCES_figures): each figure's own sources, the rest of the figure rule's code."""
    stage = set(command_sources("pipeline.figures.__main__", root))
    modules = [
        f"{PACKAGE}.figures.{path.stem}"
        for path in sorted((root / PACKAGE / "figures").glob("*.py"))
        if not path.stem.startswith("__")
    ]
    return [
        path.relative_to(root).as_posix()
        for path in closure(modules, root)
        if path.relative_to(root).as_posix() not in stage
    ]


def main(argv: list[str], commands: dict[str, str]) -> None:
    """Write the fragment to ``argv[0]``; its time always moves on (make then knows it is up to date), its
    bytes only when an import changed."""
    usage = "usage: lsp-rap dependencies OUT.mk\n\nWrite the makefile fragment of what each command runs."
    if any(argument in ("-h", "--help") for argument in argv):
        print(usage)  # asked for help: write nothing
        return
    if len(argv) != 1 or argv[0].startswith("-"):
        raise SystemExit(usage)
    target = Path(argv[0])
    text = makefile_fragment(commands)
    if target.exists() and target.read_text(encoding="utf-8") == text:
        target.touch()
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
