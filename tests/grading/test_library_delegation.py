"""Library delegation: an answer that hands the exercise to PEFT, Diffusers, Transformers,
TorchMetrics or torch's implementation of the same idea scores nothing, although each
would be right if allowed (checked here outside the grader, so the test can fail)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from cleanroom_cases import grade_cells
from library_answers import LIBRARY_ANSWERS
from torch import nn

from genlab.grading import plain
from genlab.grading.spec import Answers, compare, load_spec, reference_answers

SUBMISSIONS = [(chapter, i) for chapter, cells in LIBRARY_ANSWERS.items()
               for i in range(max(len(v) for v in cells.values()))]
ANSWERS = [(chapter, gid, i) for chapter, cells in LIBRARY_ANSWERS.items()
           for gid, sources in cells.items() for i in range(len(sources))]


def _exercise(chapter, gid):
    return next(e for e in load_spec(chapter).exercises.values() if gid in e.names)


@pytest.mark.parametrize("chapter,gid,index", ANSWERS)
def test_library_answer_would_be_right_if_allowed(chapter, gid, index):
    ex = _exercise(chapter, gid)
    ns = {"torch": torch, "math": math, "nn": nn, "F": F}
    exec(LIBRARY_ANSWERS[chapter][gid][index], ns)
    for case in ex.cases(torch.Generator().manual_seed(3)):
        torch.manual_seed(0)
        want = plain.decode(plain.encode(ex.run(reference_answers(ex), plain.decode(plain.encode(case)))))
        torch.manual_seed(0)
        got = plain.decode(plain.encode(ex.run(Answers(ns), plain.decode(plain.encode(case)))))
        found = ex.check(got, want) if ex.check else compare(
            got, want, rtol=ex.rtol, atol=ex.atol, check_dtype=ex.check_dtype, tolerances=ex.tolerances)
        assert not found, found


@pytest.mark.parametrize("chapter,index", SUBMISSIONS)
def test_library_delegation_scores_nothing(chapter, index):
    answers = {gid: sources[index] for gid, sources in LIBRARY_ANSWERS[chapter].items()
               if index < len(sources)}
    results = grade_cells(chapter, answers, with_feedback=True)
    for gid in answers:
        test = _exercise(chapter, gid).test
        points, feedback = results[test]
        assert points == 0, f"{gid} delegated to a library and earned {points}:\n{feedback}"
        assert "implement the idea yourself" in feedback, feedback
