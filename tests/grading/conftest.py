"""One private nbgrader course per test process, with every chapter released."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import notebooks
from genlab.grading import autograde, submit, temp_course

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = notebooks.chapter_ids()
RUNS = ROOT / ".cache" / "grading_runs"


@pytest.fixture(scope="session")
def course():
    """``(api, work_root)`` of a temporary course where every chapter is released."""
    with temp_course(CHAPTERS, ROOT) as api_root:
        yield api_root


def grade_submission(course, chapter: str, student: str, notebook):
    """Submit ``notebook`` for ``student``, autograde it, record the seconds it took."""
    api, work_root = course
    submit(work_root, chapter, student, notebook)
    start = time.perf_counter()
    report = autograde(api, chapter, student)
    seconds = time.perf_counter() - start
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"{chapter}__{student}.json").write_text(json.dumps(
        {"chapter": chapter, "student": student, "seconds": round(seconds, 2),
         "score": report.score, "max_score": report.max_score}))
    graded = work_root / "autograded" / student / chapter / f"{chapter}.ipynb"
    return report, graded


@pytest.fixture(scope="session")
def needs_sandbox():
    """Skip (with the reason) where bubblewrap or user namespaces are missing; under CI
    (``CI=true``, as .ci/run sets) the sandbox is required and its absence fails."""
    from genlab.grading import sandbox

    ok, why = sandbox.availability()
    if not ok:
        if sandbox.required():
            pytest.fail(f"CI requires the grading sandbox: {why}")
        pytest.skip(f"no grading sandbox here: {why}")
