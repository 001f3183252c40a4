"""One submission never harms another in `genlab autograde --workers 2`: a result nested
200,000 deep, a forged tensor header and nbgrader metadata edited into a string each cost
their own submission (0, with a reason), and every classmate is graded in full."""

from __future__ import annotations

import nbformat
import pytest
from attacks import UNHOOK_GC
from conftest import ROOT

from genlab.grading import submit, temp_course
from genlab.grading.classgrade import autograde_class

CHAPTER = "00_welcome"
RIGHT = "def count_parameters(model):\n    return sum(p.numel() for p in model.parameters() if p.requires_grad)\n"
RIGHT_QUIZ = "answer_q1 = 'c'\nanswer_q2 = 'b'\n"
_WRITE = "import os\nos.write(int(sys.argv[1]), {payload} + b'\\n')\n"
DEEP = UNHOOK_GC + _WRITE.format(payload="b'[' * 200000 + b']' * 200000") + RIGHT
FORGED_TENSOR = UNHOOK_GC + _WRITE.format(payload=(
    "b'{\"ev\": \"cell_done\", \"id\": \"count_parameters\", \"defined\": [], \"stdout\": \"\", "
    "\"error\": {\"tensor\": {\"dtype\": \"float64\", \"shape\": [1000000000000], \"data\": [], "
    "\"requires_grad\": false}}}'")) + RIGHT


def _with_answers(count_src, quiz_src, metadata_string=False):
    nb = nbformat.read(ROOT / "chapters" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "count_parameters":
            cell.source = count_src
        if gid == "quiz_answers":
            cell.source = quiz_src
    text = nbformat.writes(nb)
    if metadata_string:  # every cell's nbgrader metadata a string (JSON level: nbformat allows it)
        import json

        raw = json.loads(text)
        for cell in raw["cells"]:
            if "nbgrader" in cell.get("metadata", {}):
                cell["metadata"]["nbgrader"] = "grade me"
        text = json.dumps(raw)
    return text


@pytest.mark.usefixtures("needs_sandbox")
def test_broken_results_and_metadata_cost_only_their_own_submission():
    honest = _with_answers(RIGHT, RIGHT_QUIZ)
    class_ = {"a_deep": _with_answers(DEEP, RIGHT_QUIZ), "b_honest": honest,
              "c_forged": _with_answers(FORGED_TENSOR, RIGHT_QUIZ), "d_honest": honest,
              "e_metadata": _with_answers(RIGHT, RIGHT_QUIZ, metadata_string=True), "f_honest": honest}
    with temp_course([CHAPTER], ROOT) as (api, root):
        for student, text in class_.items():
            submit(root, CHAPTER, student, text)
        report = autograde_class(CHAPTER, workers=2, work_root=root, course_root=ROOT)
    for student in ("b_honest", "d_honest", "f_honest"):
        assert report.scores[student] == (4.0, 4.0), report.table()
    for student in ("a_deep", "c_forged"):  # the cell that sent it is skipped: no count_parameters
        assert report.scores[student][0] <= 2.0, report.table()
    assert report.scores["e_metadata"][0] == 0.0, report.table()
