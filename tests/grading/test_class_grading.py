"""`genlab autograde ASSIGNMENT --workers N`: a class graded in parallel into the gradebook."""

from __future__ import annotations

import nbformat
import pytest
from conftest import ROOT

from genlab import cli
from genlab.grading import submit, temp_course
from genlab.grading.classgrade import autograde_class

CHAPTER = "00_welcome"


def _with_answers(count_src, quiz_src):
    nb = nbformat.read(ROOT / "chapters" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "count_parameters" and count_src:
            cell.source = count_src
        if gid == "quiz_answers" and quiz_src:
            cell.source = quiz_src
    return nbformat.writes(nb)


def test_a_class_is_graded_in_parallel_into_the_gradebook(capsys):
    right = "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters() if p.requires_grad)\n"
    class_ = {
        "ada": _with_answers(right, "answer_q1 = 'c'\nanswer_q2 = 'b'\n"),
        "bob": _with_answers(None, None),
        "cy": _with_answers("def count_parameters(model):\n    return 8\n", "answer_q1 = 'c'\nanswer_q2 = 'a'\n"),
        "dee": "this is not a notebook",
    }
    with temp_course([CHAPTER], ROOT) as (api, root):
        for student, text in class_.items():
            submit(root, CHAPTER, student, text)
        report = autograde_class(CHAPTER, workers=2, work_root=root, course_root=ROOT)
        assert report.scores == {"ada": (4.0, 4.0), "bob": (0.0, 4.0), "cy": (1.0, 4.0),
                                 "dee": (0.0, 4.0)}, report.table()
        assert "not a valid notebook" in report.errors["dee"]
        with api.gradebook as gb:
            assert gb.find_submission(CHAPTER, "ada").score == 4.0
            assert gb.find_submission(CHAPTER, "cy").score == 1.0
        assert "4 submissions" in report.table()
        # the command line: bad input is refused with a clear message
        assert cli.main(["autograde", CHAPTER, "--workers", "0", "--course", str(root)]) == 2
        assert "workers must be >= 1" in capsys.readouterr().err
        assert cli.main(["autograde", "01_gan_losses", "--course", str(root)]) == 2
        assert "no submissions" in capsys.readouterr().err
