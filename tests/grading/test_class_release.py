"""A class release: quiz options shuffled by the instructor's secret, no self-check; the
autograder maps the class's letters back; the self-study letters (and the public hashes)
score nothing."""

from __future__ import annotations

import copy

import nbformat
import pytest
from conftest import ROOT

from genlab.grading import autograde, submit, temp_course
from genlab.grading.classrelease import permutation

CHAPTER = "00_welcome"
KEY = {"answer_q1": "c", "answer_q2": "b"}  # the canonical answers (solutions/00_welcome)


@pytest.fixture(scope="module")
def class_course():
    mp = pytest.MonkeyPatch()
    mp.setenv("GENLAB_CLASS_SECRET", "class-of-2026")
    try:
        with temp_course([CHAPTER], ROOT) as (api, root):
            released = nbformat.read(root / "chapters" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
            shown = {v: permutation("class-of-2026", CHAPTER, int(v[-1]), k)[k] for v, k in KEY.items()}

            def answering(letters):
                nb = copy.deepcopy(released)
                for cell in nb.cells:
                    if cell.metadata.get("nbgrader", {}).get("grade_id") == "quiz_answers":
                        cell.source = "".join(f"{v} = {letters[v]!r}\n" for v in KEY)
                return nb

            submit(root, CHAPTER, "class_letters", nbformat.writes(answering(shown)))
            submit(root, CHAPTER, "self_study_letters", nbformat.writes(answering(KEY)))
            yield {"released": released, "shown": shown,
                   "scores": {s: autograde(api, CHAPTER, s) for s in ("class_letters", "self_study_letters")}}
    finally:
        mp.undo()


def test_release_shuffles_options_and_turns_the_self_check_off(class_course):
    text = "\n".join(c.source for c in class_course["released"].cells)
    assert "genlab.quiz.check_all" not in text and "graded_by_instructor" in text
    q1 = next(c.source for c in class_course["released"].cells if "**Q1.**" in c.source)
    right = class_course["shown"]["answer_q1"]
    assert f"- {right}) in the answer cell" in q1 and "- c) in the answer cell" not in q1


def test_class_letters_score_and_self_study_letters_do_not(class_course):
    points = {s: {c.grade_id: c.score for c in r.cells} for s, r in class_course["scores"].items()}
    assert points["class_letters"]["test_quiz"] == 2
    assert points["self_study_letters"]["test_quiz"] == 0
