"""Every chapter through nbgrader: release, blank submission, solutions.

Autograding goes through the clean room (docs/grading.md): the untouched student notebook
scores 0 with errors only in its test cells, the solutions score every point. That the
student version runs end to end (errors only in exercise cells) is checked by
tests/notebooks, which executes it.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from conftest import CHAPTERS, ROOT, grade_submission

import nbrun


def _comparable(path):
    nb = json.loads(path.read_text())
    return nb["metadata"], [
        (c["cell_type"], c.get("id"), c["source"], c["metadata"]) for c in nb["cells"]
    ]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_chapter_equals_what_nbgrader_generates(course, chapter):
    _, work_root = course
    released = work_root / "chapters" / chapter
    committed = ROOT / "chapters" / chapter
    assert committed.is_dir(), f"chapters/{chapter} is missing: run `make chapters`"
    assert sorted(p.name for p in committed.iterdir()) == sorted(p.name for p in released.iterdir())
    assert _comparable(committed / f"{chapter}.ipynb") == _comparable(released / f"{chapter}.ipynb"), \
        f"chapters/{chapter} differs from solutions/: run `make chapters`"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_student_notebook_scores_zero_and_fails_only_in_exercises(course, chapter):
    report, graded = grade_submission(course, chapter, "blank", ROOT / "chapters" / chapter / f"{chapter}.ipynb")
    assert report.error is None, report.error
    assert report.max_score > 0 and report.score == 0, report.table()
    errors = nbrun.error_cells(nbformat.read(graded, as_version=4))
    stray = [(i, e) for i, meta, e in errors if not (meta.get("solution") or meta.get("grade"))]
    assert not stray, f"the student version fails outside exercise cells: {stray}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solutions_score_every_autograded_point(course, chapter):
    report, graded = grade_submission(course, chapter, "solution", ROOT / "solutions" / chapter / f"{chapter}.ipynb")
    assert report.error is None, report.error
    assert report.score == report.max_score > 0, report.table()
    assert not nbrun.error_cells(nbformat.read(graded, as_version=4))
