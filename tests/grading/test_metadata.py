"""Static checks of every source notebook: nbgrader schema, ids, points, markers."""

from __future__ import annotations

import nbformat
import pytest
from conftest import CHAPTERS, ROOT


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_source_notebook_metadata_is_valid(chapter):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    MetadataValidator().validate_nb(nb)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(grade_ids) == len(set(grade_ids)), "grade ids must be unique"
    assert len({c.id for c in nb.cells}) == len(nb.cells), "cell ids must be unique"
    n_tests = 0
    for cell in nb.cells:
        assert cell.cell_type != "code" or not cell.outputs, "commit notebooks without outputs"
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        if meta.get("grade") and cell.cell_type == "code":
            assert meta.get("locked") and meta.get("points", 0) > 0
            n_tests += 1
        if "BEGIN HIDDEN TESTS" in cell.source:
            assert meta.get("grade"), "hidden tests belong in test cells"
        if "BEGIN SOLUTION" in cell.source:
            assert meta.get("solution"), "solution markers belong in answer cells"
    assert n_tests >= 1, "a chapter has at least one graded test cell"


def test_colab_cell_comes_first_everywhere():
    for chapter in CHAPTERS:
        nb = nbformat.read(ROOT / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
        assert "google.colab" in nb.cells[0].source


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_test_cell_is_graded_by_the_clean_room(chapter):
    """A chapter with a spec (genlab/grading/specs) covers each test cell: an Exercise, or a
    quiz key in the hidden region; its answer cells define what the exercises call."""
    from genlab.grading.judge import Notebook
    from genlab.grading.spec import load_spec, quiz_key_of, spec_check_of

    spec = load_spec(chapter)
    if spec is None:
        pytest.skip(f"{chapter} has no clean-room spec: nbgrader executes it in a kernel")
    nb = Notebook.from_nbformat(nbformat.read(ROOT / "solutions" / chapter / f"{chapter}.ipynb",
                                              as_version=4))
    answers = "\n".join(src for _, src in nb.answers)
    for test, (source, _points) in nb.tests.items():
        if test in spec.exercises:
            assert spec_check_of(source) == (chapter, test), \
                f"{test}: the hidden region should be genlab.grading.check_here({chapter!r}, {test!r})"
            for name in spec.exercises[test].names:
                assert f"def {name}(" in answers or f"{name} =" in answers, f"{test}: no answer defines {name}"
        else:
            assert quiz_key_of(source), f"{test}: neither an Exercise of the spec nor a quiz key"
    assert set(spec.exercises) <= set(nb.tests), "the spec names test cells the notebook lacks"
