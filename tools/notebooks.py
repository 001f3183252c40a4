"""Build the nbgrader source notebooks from their percent-format text sources.

Each chapter is written as ``solutions/<id>/<id>.py`` (readable diffs, easy review) and
built into ``solutions/<id>/<id>.ipynb``, the nbgrader source notebook. nbgrader's
``CourseDirectory.ignore`` keeps the ``.py`` out of the student release.

Cell markers (one per line, starting a new cell):

    # %% [markdown]                    prose; each line starts with "# " (or is "#")
    # %%                               ordinary code
    # %% solution id=<grade_id>        answer cell: ### BEGIN SOLUTION / ### END SOLUTION
    # %% tests id=<grade_id> points=N  locked test cell; visible asserts, then hidden ones

A cell that installs genlab on Colab (and only there) is put first in every notebook.

Usage: ``python tools/notebooks.py build [CHAPTER ...]`` or ``... check`` (exit 1 if
any .ipynb differs from its source).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
MARKER = re.compile(r"^# %%(?P<rest>.*)$")


def repo_url() -> str:
    """The repository URL, set once in pyproject.toml ([project.urls] Repository)."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return meta["project"]["urls"]["Repository"]


def colab_cell_source() -> str:
    return (
        "# On Colab only: install genlab (locally, `make lab` has installed it already).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        "    subprocess.run(\n"
        f'        [sys.executable, "-m", "pip", "install", "-q", "genlab @ git+{repo_url()}"],\n'
        "        check=True,\n"
        "    )"
    )


def _nbgrader_meta(kind: str, options: dict[str, str], where: str) -> dict:
    if "id" not in options:
        raise ValueError(f"{where}: a '{kind}' cell needs id=<grade_id>")
    meta = {"grade_id": options["id"], "schema_version": 3, "locked": False,
            "solution": False, "grade": False}
    if kind == "solution":
        meta["solution"] = True
    elif kind == "tests":
        if "points" not in options:
            raise ValueError(f"{where}: a 'tests' cell needs points=N")
        meta.update(grade=True, locked=True, points=float(options["points"]))
        if meta["points"].is_integer():
            meta["points"] = int(meta["points"])
    else:
        raise ValueError(f"{where}: unknown cell kind {kind!r}")
    return {"nbgrader": meta}


def parse(text: str, name: str = "<source>") -> list[nbformat.NotebookNode]:
    """Turn percent-format text into notebook cells (Colab cell not included)."""
    cells, header, body, start = [], None, [], 0

    def flush():
        if header is None:
            if any(line.strip() for line in body):
                raise ValueError(f"{name}: text before the first '# %%' marker")
            return
        words = header.split()
        is_md = bool(words) and words[0] == "[markdown]"
        if is_md:
            words = words[1:]
        kind = words[0] if words and "=" not in words[0] else None
        options = dict(w.split("=", 1) for w in words if "=" in w)
        lines = list(body)
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        where = f"{name}:{start}"
        if is_md:
            bad = [ln for ln in lines if ln and not (ln == "#" or ln.startswith("# "))]
            if bad:
                raise ValueError(f"{where}: markdown lines must start with '# ': {bad[0]!r}")
            source = "\n".join(ln[2:] if ln.startswith("# ") else "" for ln in lines)
            cell = nbformat.v4.new_markdown_cell(source)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        if kind:
            cell.metadata.update(_nbgrader_meta(kind, options, where))
        elif options:
            raise ValueError(f"{where}: options {options} need a cell kind")
        cells.append(cell)

    for lineno, line in enumerate(text.splitlines(), 1):
        match = MARKER.match(line)
        if match:
            flush()
            header, body, start = match["rest"].strip(), [], lineno
        else:
            body.append(line)
    flush()
    return cells


def build_notebook(source_path: Path) -> nbformat.NotebookNode:
    """The nbgrader source notebook for one ``<id>.py`` file, with stable cell ids."""
    cells = [nbformat.v4.new_code_cell(colab_cell_source())]
    cells += parse(source_path.read_text(encoding="utf-8"), source_path.name)
    for index, cell in enumerate(cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell["id"] = grade_id or f"cell-{index:03d}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


def chapter_ids() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.py").is_file())


def render(chapter: str) -> str:
    nb = build_notebook(SOLUTIONS / chapter / f"{chapter}.py")
    return nbformat.writes(nb) + "\n"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("build", "check"):
        print(__doc__)
        return 2
    chapters = argv[1:] or chapter_ids()
    stale = []
    for chapter in chapters:
        target = SOLUTIONS / chapter / f"{chapter}.ipynb"
        text = render(chapter)
        if argv[0] == "build":
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
                print(f"built {target.relative_to(ROOT)}")
        elif not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(chapter)
    if stale:
        print("out of date (run `make chapters`):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
