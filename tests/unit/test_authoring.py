"""The percent-format chapter sources and the notebooks built from them."""

import pytest

import notebooks  # tools/notebooks.py (tests/conftest.py puts tools/ on sys.path)

SOURCE = '''# %% [markdown]
# # Title
#
# Some prose.
# %%
x = 1
# %% solution id=answer
def f():
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION
# %% tests id=test_answer points=2
assert f() == 1
'''


def test_parse_builds_cells_with_nbgrader_metadata():
    cells = notebooks.parse(SOURCE)
    assert [c.cell_type for c in cells] == ["markdown", "code", "code", "code"]
    assert cells[0].source == "# Title\n\nSome prose."
    assert cells[1].source == "x = 1" and "nbgrader" not in cells[1].metadata
    sol = cells[2].metadata["nbgrader"]
    assert sol == {"grade_id": "answer", "schema_version": 3, "locked": False,
                   "solution": True, "grade": False}
    test = cells[3].metadata["nbgrader"]
    assert test["grade"] and test["locked"] and test["points"] == 2 and not test["solution"]


@pytest.mark.parametrize("bad, message", [
    ("x = 1\n# %%\ny = 2\n", "before the first"),
    ("# %% solution\nx = 1\n", "needs id="),
    ("# %% tests id=t\nassert 1\n", "needs points="),
    ("# %% quiz id=q\nx = 1\n", "unknown cell kind"),
    ("# %% [markdown]\nno hash\n", "must start with"),
])
def test_parse_rejects_malformed_sources(bad, message):
    with pytest.raises(ValueError, match=message):
        notebooks.parse(bad)


def test_every_solutions_notebook_is_built_from_its_source():
    stale = [c for c in notebooks.chapter_ids()
             if (notebooks.SOLUTIONS / c / f"{c}.ipynb").read_text() != notebooks.render(c)]
    assert not stale, f"run `make chapters`: {stale}"


def test_colab_cell_installs_from_the_one_repository_url():
    source = notebooks.colab_cell_source()
    assert "google.colab" in source and notebooks.repo_url() in source
