"""Submissions that tamper, delete, hang or are corrupt are graded correctly, each alone.

All four go into one course and are autograded one after another, then checked, so a
bad submission that harmed the next one would show.
"""

from __future__ import annotations

import copy

import nbformat
import pytest

from genlab.grading import autograde, submit, temp_course

from conftest import ROOT

CHAPTER = "00_welcome"


def _cells_by_id(nb):
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}


@pytest.fixture(scope="module")
def graded():
    student = nbformat.read(ROOT / "chapters" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    answers = {gid: c.source for gid, c in _cells_by_id(solution).items()
               if gid and c.metadata["nbgrader"].get("solution")}

    def solved():
        nb = copy.deepcopy(student)
        for gid, cell in _cells_by_id(nb).items():
            if gid in answers:
                cell.source = answers[gid]
        return nb

    # A wrong answer plus a locked test cell rewritten to pass anything.
    tampered = solved()
    _cells_by_id(tampered)["count_parameters"].source = "def count_parameters(model):\n    return 8"
    _cells_by_id(tampered)["test_count_parameters"].source = "pass"
    # A correct notebook whose quiz test cell was deleted.
    deleted = solved()
    deleted.cells = [c for c in deleted.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") != "test_quiz"]
    # An answer that never returns.
    hanging = solved()
    _cells_by_id(hanging)["count_parameters"].source = (
        "def count_parameters(model):\n    while True:\n        pass")

    submissions = {
        "tampered": nbformat.writes(tampered),
        "deleted": nbformat.writes(deleted),
        "hanging": nbformat.writes(hanging),
        "corrupt": '{"cells": [ this is not json',
        "honest": nbformat.writes(solved()),
    }
    # A short per-cell timeout keeps the hanging submission cheap to grade.
    with temp_course([CHAPTER], ROOT, CleanRoomExecute__timeout=10) as (api, work_root):
        for student, text in submissions.items():
            submit(work_root, CHAPTER, student, text)
        yield {student: autograde(api, CHAPTER, student) for student in submissions}


def _points(report):
    return {c.grade_id: c.score for c in report.cells}


def test_edited_locked_test_is_restored_and_fails_the_wrong_answer(graded):
    assert _points(graded["tampered"]) == {"test_count_parameters": 0, "test_quiz": 2}


def test_deleted_test_cell_is_put_back_and_graded(graded):
    assert _points(graded["deleted"]) == {"test_count_parameters": 2, "test_quiz": 2}


def test_endless_loop_times_out_and_the_rest_is_still_graded(graded):
    assert _points(graded["hanging"]) == {"test_count_parameters": 0, "test_quiz": 2}


def test_corrupt_notebook_is_reported_and_scores_zero(graded):
    report = graded["corrupt"]
    assert report.error is not None and report.score == 0 and report.max_score == 4


def test_bad_submissions_do_not_harm_an_honest_one(graded):
    assert graded["honest"].score == graded["honest"].max_score == 4
