"""docs/site/pages.py on small made-up notebooks: what a chapter page keeps and drops."""

from __future__ import annotations

import nbformat
import pytest

import pages

REPO = pages.Repository("https://github.com/someone/course", "someone", "course")
SPEC = {"widget": "noise_schedule", "title": "noise schedule",
        "controls": [{"name": "t", "kind": "range", "values": ["0", "5"], "labels": ["0", "5"],
                      "value": "5"}],
        "frames": {"0": {"src": "noise_schedule/0.png", "caption": "t=0: SNR < 1"},
                   "5": {"src": "noise_schedule/5.png", "caption": "t=5"}}}


def _error(ename="NotImplementedError"):
    return nbformat.v4.new_output("error", ename=ename, evalue="", traceback=["Traceback ..."])


def _grading(**meta):
    return {"nbgrader": {"grade_id": "x", "solution": False, "grade": False, **meta}}


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 03 · Title"), *cells]
    nb.metadata["widgets"] = {"state": {}}
    return nb


def test_unsolved_exercise_errors_become_notes_and_the_source_stays_the_stub():
    answer = nbformat.v4.new_code_cell("def f():\n    raise NotImplementedError()",
                                       metadata=_grading(solution=True))
    answer.outputs = [_error()]
    test = nbformat.v4.new_code_cell("assert f() == 1", metadata=_grading(grade=True, points=1))
    test.outputs = [_error("AssertionError")]
    page = pages.chapter_page(_notebook(answer, test), "03_x", REPO, {})
    answer_out, test_out = page.cells[2].outputs, page.cells[3].outputs
    assert page.cells[2].source == answer.source
    assert [o.output_type for o in answer_out + test_out] == ["display_data"] * 2
    assert "AssertionError" in test_out[0].data["text/html"]
    assert "Traceback" not in str(page)
    assert "widgets" not in page.metadata


def test_an_error_outside_the_exercises_fails_the_build():
    demo = nbformat.v4.new_code_cell("train()")
    demo.outputs = [_error("RuntimeError")]
    with pytest.raises(pages.BuildError, match="03_x: cell 1 raised RuntimeError"):
        pages.chapter_page(_notebook(demo), "03_x", REPO, {})


def test_a_widget_becomes_its_preview_and_progress_bars_go():
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "abc"}, "text/plain": "VBox()"}
    bar = {"application/vnd.jupyter.widget-view+json": {"model_id": "d"},
           "text/plain": "GAN:  40%|####      | 400/1000"}
    cell = nbformat.v4.new_code_cell("genlab.widgets.noise_schedule.build(image=images[0])")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bar),
                    nbformat.v4.new_output("display_data", data=widget)]
    page = pages.chapter_page(_notebook(cell), "03_x", REPO, {"noise_schedule": SPEC})
    (out,) = page.cells[2].outputs
    markup = out.data["text/html"]
    assert 'data-widget="noise_schedule"' in markup
    assert 'src="../../_static/widget-previews/noise_schedule/5.png"' in markup  # the default
    assert "JupyterLab" in markup and "Binder" in markup and "Colab" in markup
    assert "SNR \\u003c 1" in markup  # JSON inside <script> escapes "<"


def test_a_widget_without_a_preview_fails_the_build():
    cell = nbformat.v4.new_code_cell("make_some_widget()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "a"}, "text/plain": "VBox()"})]
    with pytest.raises(pages.BuildError, match="no preview"):
        pages.chapter_page(_notebook(cell), "03_x", REPO, {"noise_schedule": SPEC})


def test_title_first_then_launch_links_with_the_repository_urls():
    colab_cell = nbformat.v4.new_code_cell("# On Colab only")
    nb = _notebook()
    nb.cells.insert(0, colab_cell)
    page = pages.chapter_page(nb, "03_x", REPO, {})
    assert page.cells[0].source == "# 03 · Title"
    bar = page.cells[1].source
    assert ('href="https://mybinder.org/v2/gh/someone/course/HEAD?urlpath=lab/tree/'
            'chapters/03_x/03_x.ipynb"') in bar
    assert ('href="https://colab.research.google.com/github/someone/course/blob/main/'
            'chapters/03_x/03_x.ipynb"') in bar
    assert 'href="03_x.ipynb" download' in bar
    assert page.cells[2].source == "# On Colab only"


def test_front_page_keeps_chapter_links_and_sends_other_files_to_the_repository(tmp_path):
    (tmp_path / "docs").mkdir()
    readme = ("[![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/x)\n"
              "[ch](chapters/01_a/01_a.ipynb) [grading](docs/grading.md#top) [d](docs/)\n"
              '<img src="docs/img/w.png"> [web](https://example.org)\n')
    page = pages.front_page(readme, ["01_a"], REPO, tmp_path)
    assert "[Binder](https://mybinder.org/v2/gh/x)" in page and "badge_logo" not in page
    assert "[ch](chapters/01_a/01_a.ipynb)" in page
    assert "[grading](https://github.com/someone/course/blob/main/docs/grading.md#top)" in page
    assert "[d](https://github.com/someone/course/tree/main/docs/)" in page or \
        "[d](https://github.com/someone/course/tree/main/docs)" in page
    assert '<img src="docs/img/w.png">' in page and "[web](https://example.org)" in page
    assert "```{toctree}" in page and "chapters/01_a/01_a\n" in page


def test_the_repository_comes_from_pyproject():
    repo = pages.repository()
    assert repo.url == f"https://github.com/{repo.owner}/{repo.name}"
