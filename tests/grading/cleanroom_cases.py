"""Grade chosen answer cells of a chapter in the clean room, without nbgrader.

``grade_cells(chapter, {answer_grade_id: source})`` takes the instructor's test cells
(hidden regions included) from solutions/, the given answers, and the student version's
stub for every other answer cell, and returns ``{test_grade_id: points}`` from the judge.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import nbformat

from genlab.grading.judge import Notebook, grade_notebook

ROOT = Path(__file__).resolve().parents[2]
_SOLUTION = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.S)


@lru_cache(maxsize=None)
def source_notebook(chapter: str) -> Notebook:
    nb = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    return Notebook.from_nbformat(nb)


def stub(source: str) -> str:
    """The student version of an answer cell (what nbgrader's ClearSolutions leaves)."""
    return _SOLUTION.sub("raise NotImplementedError()", source)


def solution(chapter: str, grade_id: str) -> str:
    return dict(source_notebook(chapter).answers)[grade_id]


def grade_cells(chapter: str, answers: dict[str, str], *, with_feedback: bool = False):
    """Points per test cell when the answer cells ``answers`` are submitted."""
    src = source_notebook(chapter)
    unknown = set(answers) - {gid for gid, _ in src.answers}
    assert not unknown, f"{chapter} has no answer cells {sorted(unknown)}"
    cells = [(gid, answers.get(gid, stub(text))) for gid, text in src.answers]
    results = grade_notebook(chapter, Notebook(cells, dict(src.tests)))
    if with_feedback:
        return {k: (r.points, r.feedback) for k, r in results.items()}
    return {k: r.points for k, r in results.items()}
