"""Hidden checks separate right from wrong: per exercise of chapters 00-06, a correct
answer written differently gets every point; plausible mistakes and delegating to
genlab's reference get none (answer_catalog.py holds the answers).

Each submission puts one kind of answer into every answer cell of a chapter at once (one
clean-room process per submission keeps this affordable); exercises are graded
independently, so each answer is judged on its own.
"""

from __future__ import annotations

import pytest
from answer_catalog import CATALOG
from cleanroom_cases import grade_cells, source_notebook


def _kinds(chapter):
    most_wrong = max(len(entry["wrong"]) for entry in CATALOG[chapter].values())
    return ["right", "delegate"] + [f"wrong{i}" for i in range(most_wrong)]


CASES = [(chapter, kind) for chapter in CATALOG for kind in _kinds(chapter)]


def _answers(chapter, kind):
    chosen = {}
    for gid, entry in CATALOG[chapter].items():
        if kind.startswith("wrong"):
            index = int(kind[5:])
            if index < len(entry["wrong"]):
                chosen[gid] = entry["wrong"][index]
        else:
            chosen[gid] = entry[kind]
    return chosen


def test_catalog_covers_every_exercise_with_two_wrong_answers():
    for chapter, entries in CATALOG.items():
        answer_ids = {gid for gid, _ in source_notebook(chapter).answers} - {"quiz_answers", "presets"}
        assert set(entries) == answer_ids, chapter
        for gid, entry in entries.items():
            assert len(entry["wrong"]) >= 2 and entry["right"] and entry["delegate"], gid


@pytest.mark.parametrize("chapter,kind", CASES)
def test_answers_score_what_they_deserve(chapter, kind):
    answers = _answers(chapter, kind)
    results = grade_cells(chapter, answers, with_feedback=True)
    maxima = {test: points for test, (_, points) in source_notebook(chapter).tests.items()}
    for gid in answers:
        test = CATALOG[chapter][gid]["test"]
        points, feedback = results[test]
        if kind == "right":
            assert points == maxima[test], f"{gid}: a correct answer lost points:\n{feedback}"
        else:
            assert points == 0, f"{gid} ({kind}) earned {points}:\n{feedback}"
    if kind == "delegate":
        delegated = [results[CATALOG[chapter][g]["test"]][1] for g in answers]
        assert any("implement the idea yourself" in text for text in delegated), delegated
