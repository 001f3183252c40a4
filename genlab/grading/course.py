"""Score a learner's notebook with nbgrader, hidden tests included, in a private course.

``genlab grade chapters/01_gan_losses/01_gan_losses.ipynb`` copies that chapter's
instructor source into a temporary nbgrader course, releases it there (so the gradebook
knows every test cell, hidden ones included), submits the learner's notebook, autogrades
it and prints the points per test cell. Nothing is written into the repository.

The same functions drive the test suite and ``tools/release.py``, so learners, CI and
instructors all grade through one mechanism.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from genlab.grading.sandbox import no_sandbox_note

STUDENT = "learner"


@dataclass
class CellScore:
    grade_id: str
    score: float | None  # None: could not be scored automatically
    max_score: float


@dataclass
class GradeReport:
    chapter: str
    cells: list[CellScore] = field(default_factory=list)
    error: str | None = None  # set when the submission could not be graded at all
    note: str | None = None  # one line when answers ran without the OS sandbox

    @property
    def score(self) -> float:
        return sum(c.score or 0.0 for c in self.cells)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells)

    def table(self) -> str:
        """Points per test cell and the total, as aligned text."""
        width = max([len(c.grade_id) for c in self.cells] + [len("total")])
        lines = [f"{'test cell':<{width}}  points", f"{'-' * width}  ------"]
        for c in self.cells:
            got = "?" if c.score is None else f"{c.score:g}"
            lines.append(f"{c.grade_id:<{width}}  {got} / {c.max_score:g}")
        lines.append(f"{'-' * width}  ------")
        lines.append(f"{'total':<{width}}  {self.score:g} / {self.max_score:g}")
        if self.error:
            lines.append(f"note: {self.error}")
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def find_course_root(start: Path | None = None) -> Path:
    """The folder holding ``nbgrader_config.py`` and ``solutions/``, searched upwards.

    ``$GENLAB_COURSE_ROOT`` wins when set.
    """
    env = os.environ.get("GENLAB_COURSE_ROOT")
    candidates = [Path(env)] if env else []
    start = Path(start or Path.cwd()).resolve()
    candidates += [start, *start.parents]
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError(
        "could not find the course (a folder with nbgrader_config.py and solutions/) "
        f"above {start}; run from the genlab repository or set GENLAB_COURSE_ROOT"
    )


def _ensure_tools_on_path() -> None:
    # nbgrader runs `alembic` in a subprocess when it creates a gradebook.
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def make_api(course_root: Path, work_root: Path, **overrides):
    """An in-process ``NbGraderAPI`` on ``work_root`` configured by the course's file.

    ``overrides`` are ``"Class.trait": value`` pairs, e.g.
    ``{"ExecutePreprocessor.timeout": 10}`` given as keyword ``ExecutePreprocessor__timeout``.
    """
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    _ensure_tools_on_path()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    config.CourseDirectory.root = str(work_root)
    config.NbGraderAPI.log_level = "WARN"  # keep errors, drop per-cell chatter
    for key, value in overrides.items():
        cls, trait = key.split("__")
        setattr(getattr(config, cls), trait, value)
    return NbGraderAPI(config=config)


@contextmanager
def temp_course(chapters: list[str], course_root: Path | None = None, **overrides):
    """A private course in a temporary folder with ``chapters`` released; yields ``(api, root)``."""
    course_root = find_course_root(course_root)
    with tempfile.TemporaryDirectory(prefix="genlab-course-") as tmp:
        work_root = Path(tmp)
        for chapter in chapters:
            src = course_root / "solutions" / chapter
            if not (src / f"{chapter}.ipynb").is_file():
                raise ValueError(f"no chapter {chapter!r}: {src}/{chapter}.ipynb is missing")
            shutil.copytree(src, work_root / "solutions" / chapter)
        api = make_api(course_root, work_root, **overrides)
        cwd = os.getcwd()
        try:
            for chapter in chapters:
                result = api.generate_assignment(chapter, force=True)
                if not result["success"]:
                    raise RuntimeError(f"nbgrader could not release {chapter}:\n{result['log']}")
            yield api, work_root
        finally:
            os.chdir(cwd)  # nbgrader's converters chdir into the course


def submit(work_root: Path, chapter: str, student: str, notebook: Path | str | dict) -> Path:
    """Place a submission: a notebook file, or a notebook dict, or raw text (may be corrupt)."""
    target = work_root / "submitted" / student / chapter / f"{chapter}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, dict):
        target.write_text(json.dumps(notebook), encoding="utf-8")
    elif isinstance(notebook, Path):
        shutil.copyfile(notebook, target)
    else:
        target.write_text(notebook, encoding="utf-8")
    return target


def autograde(api, chapter: str, student: str) -> GradeReport:
    """Autograde one submission and read its points per test cell from the gradebook."""
    submitted = Path(api.coursedir.format_path(api.coursedir.submitted_directory, student, chapter)) \
        / f"{chapter}.ipynb"
    problem = notebook_problem(submitted)
    cwd = os.getcwd()
    try:
        result = api.autograde(chapter, student, force=True)
    finally:
        os.chdir(cwd)

    report = GradeReport(chapter=chapter, note=no_sandbox_note())
    if problem:
        report.error = problem
    elif not result["success"]:
        report.error = "nbgrader could not grade this submission: " + _last_error(result)
    with api.gradebook as gb:
        try:
            notebook = gb.find_submission_notebook(chapter, chapter, student)
        except Exception:  # noqa: BLE001 - nbgrader raises MissingEntry subclasses
            notebook = None
        if notebook is not None:
            for grade in sorted(notebook.grades, key=lambda g: g.name):
                if grade.cell_type != "code":
                    continue
                score = None if grade.needs_manual_grade else grade.auto_score
                report.cells.append(CellScore(grade.name, score, grade.max_score))
        if not report.cells:  # e.g. corrupt JSON: score every test cell as 0
            gb_notebook = gb.find_notebook(chapter, chapter)
            for cell in sorted(gb_notebook.grade_cells, key=lambda c: c.name):
                if cell.cell_type == "code":
                    report.cells.append(CellScore(cell.name, 0.0, cell.max_score))
    return report


def notebook_problem(path: Path) -> str | None:
    """Why the file at ``path`` cannot be graded as a notebook, or None if it can."""
    import nbformat

    if not path.is_file():
        return None  # nbgrader scores a missing notebook 0 by itself
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - JSON, encoding or schema errors alike
        return (f"{path.name} is not a valid notebook ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else 'unreadable'}); it scores 0")
    if not isinstance(nb.get("cells"), list):
        return f"{path.name} is not a valid notebook (no list of cells); it scores 0"
    return None


def _last_error(result: dict) -> str:
    text = (result.get("error") or "") + (result.get("log") or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[-1][:300] if lines else "unknown error"


def chapter_of(path: Path) -> str:
    """The chapter id of a learner's notebook: its file name without ``.ipynb``."""
    if path.suffix != ".ipynb":
        raise ValueError(f"path must be a .ipynb notebook, got {path}")
    return path.stem


def grade(path: str | Path, chapter: str | None = None, course_root: Path | None = None) -> GradeReport:
    """Grade the learner's notebook at ``path`` against chapter ``chapter`` (default: its stem)."""
    return grade_many([path], chapter=chapter, course_root=course_root)[0]


def grade_many(paths, chapter: str | None = None, course_root: Path | None = None) -> list[GradeReport]:
    """Grade several notebooks in one private course (one release per chapter), in order."""
    paths = [Path(p).resolve() for p in paths]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"path {path} does not exist")
    chapters = [chapter or chapter_of(path) for path in paths]
    warnings.filterwarnings("ignore", message=".*not in session.*")  # SQLAlchemy noise in nbgrader
    with temp_course(sorted(set(chapters)), course_root or paths[0].parent) as (api, work_root):
        reports = []
        for i, (path, ch) in enumerate(zip(paths, chapters)):
            student = STUDENT if len(paths) == 1 else f"{STUDENT}{i + 1}"
            submit(work_root, ch, student, path)
            reports.append(autograde(api, ch, student))
        return reports
