"""Start a project: ``lsp-rap init DIR`` writes the configuration, the codebook, the frame and the bundled
synthetic survey's exports (an example of the inputs the pipeline reads) into DIR, ready for ``lsp-rap run``.

The files are the package's own (``pipeline/project_template``: in the source tree links to config.yaml and
data/raw, so the wheel carries those very files, not a copy that could drift). A project keeps its exports
in data/raw; replace them with real exports that follow the codebook and point dataset.inputs at them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.core.errors import PipelineError
from pipeline.core.io import write_bytes

TEMPLATE = Path(__file__).resolve().parents[1] / "project_template"
CONFIG_NAME = "config.yaml"
RAW_FOLDER = Path("data") / "raw"


def template_files() -> dict[Path, Path]:
    """Each file a new project gets, by its path in the project, from where the package holds it."""
    raw = TEMPLATE / "raw"
    files = {Path(CONFIG_NAME): TEMPLATE / CONFIG_NAME}
    files |= {RAW_FOLDER / path.name: path for path in sorted(raw.iterdir()) if path.is_file()}
    missing = [str(source) for source in files.values() if not source.is_file()]
    if missing or len(files) == 1:
        raise PipelineError(f"the package's project files are missing ({missing[0] if missing else raw})")
    return files


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="lsp-rap init",
        description=(
            "Write a new project into DIR: config.yaml, and in data/raw the codebook, the frame and the "
            "bundled synthetic survey's exports as an example. Then `cd DIR && lsp-rap run`."
        ),
    )
    made.add_argument("directory", type=Path, metavar="DIR", help="the project folder (made if absent)")
    return made


def main(argv: list[str] | None = None) -> None:
    arguments = parser().parse_args(argv)
    project = arguments.directory.resolve()
    if project.exists() and not project.is_dir():
        raise PipelineError(f"{project}: not a folder")
    files = template_files()
    present = [path for path in files if (project / path).exists()]
    if present:
        raise PipelineError(
            f"{project / present[0]}: exists; init writes a new project (choose another folder)"
        )
    for target, source in files.items():
        write_bytes(project / target, source.read_bytes())
    exports = sum(1 for path in files if path.parent == RAW_FOLDER)
    print(f"lsp-rap init: wrote {project / CONFIG_NAME} and {exports} files in {project / RAW_FOLDER}")
    print(f"next: cd {project} && lsp-rap run")
