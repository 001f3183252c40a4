"""The browser harness's own logic, checked without a browser (runs everywhere, in seconds)."""

from __future__ import annotations

import labdriver
import nbformat
import pytest

SETUP = "import genlab\nfrom genlab.widgets import schedules\ngenlab.seed_everything(0)"


def test_slice_keeps_only_cells_that_define_what_the_widget_reads():
    sources = [
        SETUP,                                           # 0 imports + seed: needed
        "history = genlab.train.long_demo()",            # 1 heavy, unused by the widget
        None,                                            # 2 markdown
        "steps = 10\nunused = 3",                        # 3 defines steps
        "fig, ax = plt.subplots()\nax.plot([1])",        # 4 binds then reads ax: no deps
        "schedules.build(n_steps=steps)",                # 5 the widget
    ]
    assert labdriver.slice_cells(sources, {5}) == {0, 3, 5}


def test_slice_follows_reads_of_kept_cells_and_rebinding():
    sources = [
        "base = 2",
        "lr = base * 1e-3",
        "lr = lr / 2",                  # reads lr before rebinding it: needs cell 1
        "schedules.build(lr=lr)",
    ]
    assert labdriver.slice_cells(sources, {3}) == {0, 1, 2, 3}


def test_slice_ignores_names_local_to_lambdas_and_comprehensions():
    sources = [
        "o = 'an optimizer demo'",
        "x = [i for i in range(3)]",
        "curves = {k: (lambda o: o)(k) for k in x}",
        "schedules.plot_schedules(curves)",
    ]
    # ``o``, ``k`` and ``i`` are local: cell 0 is not needed; cell 1 (x) is.
    assert labdriver.slice_cells(sources, {3}) == {1, 2, 3}


def test_slice_keeps_magics_and_unparsable_cells():
    sources = ["%matplotlib inline", "this is not python(", "a = 1", "show(a)"]
    assert labdriver.slice_cells(sources, {3}) == {0, 1, 2, 3}


def _chapter(tmp_path, folder: str, chapter: str, cells: list) -> object:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    path = tmp_path / folder / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _graded(source: str, **meta) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": "x", "solution": False, "grade": False, **meta}
    return cell


def test_prepare_chapter_drops_exercises_and_cells_after_the_widget(tmp_path):
    code = nbformat.v4.new_code_cell
    cells = [
        nbformat.v4.new_markdown_cell("# Chapter"),
        code(SETUP),
        code("slow = genlab.train.long_demo()"),
        _graded("def loss():\n    raise NotImplementedError()", solution=True),
        _graded("assert loss() == 1", grade=True, points=1),
        code("schedules.build()"),
        code("after = 'never needed'"),
    ]
    cells[1].outputs = [nbformat.v4.new_output("stream", text="stale output")]
    source = _chapter(tmp_path, "solutions", "04_x", cells)
    (source.parent / "asset.txt").write_text("data")

    full, n_widget = labdriver.prepare_chapter(source, tmp_path / "lab" / "04_x", mode="full")
    sliced, _ = labdriver.prepare_chapter(source, tmp_path / "lab" / "04_x", mode="slice")

    assert n_widget == 2  # the setup cell imports genlab.widgets, the last cell builds one
    full_sources = [c.source for c in nbformat.read(full, as_version=4).cells]
    assert full_sources == ["# Chapter", SETUP, "slow = genlab.train.long_demo()",
                            "schedules.build()"]
    sliced_nb = nbformat.read(sliced, as_version=4)
    assert [c.source for c in sliced_nb.cells] == [SETUP, "schedules.build()"]
    assert all(c.outputs == [] for c in sliced_nb.cells)
    assert sliced_nb.metadata["kernelspec"]["name"] == "python3"
    assert (tmp_path / "lab" / "04_x" / "asset.txt").read_text() == "data"
    assert not (tmp_path / "lab" / "04_x" / "04_x.ipynb").exists()  # never the original name


def test_discovery_prefers_solutions_and_skips_chapters_without_widgets(tmp_path):
    widget = [nbformat.v4.new_code_cell("from genlab.widgets import schedules")]
    plain = [nbformat.v4.new_code_cell("import genlab")]
    _chapter(tmp_path, "solutions", "04_b", widget)
    _chapter(tmp_path, "chapters", "04_b", widget)
    _chapter(tmp_path, "chapters", "01_a", widget)     # released only
    _chapter(tmp_path, "solutions", "02_c", plain)

    found = labdriver.discover_widget_chapters(tmp_path)

    assert [(c.chapter, c.path.parts[-3]) for c in found] == [
        ("01_a", "chapters"), ("04_b", "solutions")]


def test_missing_chromium_skips_locally_and_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(labdriver, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium not found"):
        labdriver.require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="required under CI"):
        labdriver.require_browser()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        labdriver.require_browser()


def test_server_environment_is_private_and_shows_what_a_learner_sees(monkeypatch, tmp_path):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    env = labdriver.hermetic_env(tmp_path)
    assert "MPLBACKEND" not in env and "NBGRADER_EXECUTION" not in env
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTERLAB_SETTINGS_DIR",
                 "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR"):
        assert env[name].startswith(str(tmp_path)), name
    server = labdriver.LabServer(root_dir=tmp_path / "root", home=tmp_path)
    command = server.command()
    assert "--ServerApp.ip=127.0.0.1" in command and "--no-browser" in command
    assert f"--IdentityProvider.token={server.token}" in command and len(server.token) >= 32
