"""Every chapter widget works in JupyterLab: it renders, and a control changes what it shows.

One test per chapter notebook that uses ``genlab.widgets`` (found when the tests are collected:
a chapter whose notebook is not built yet has no test). The notebook is copied into the
server's temporary root without its exercise cells and cut after its last widget cell
(``labdriver.prepare_chapter``); by default only the cells the widgets need are kept (a slice,
found by reading the code), and if that slice raises, the test runs the chapter's cells up to
the widgets instead. JupyterLab runs it with Run All; then each widget output is pictured and
its controls are changed until the figure or the numbers change.
"""

from __future__ import annotations

import os
import warnings

import labdriver
import pytest

# One JupyterLab for the session: with ``-n N --dist loadgroup`` all run on one xdist worker.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(420), pytest.mark.xdist_group("browser")]

CHAPTERS = labdriver.discover_widget_chapters()


def _train(page, output) -> str:
    """Mode collapse (01): only Train changes the picture. Tests train the fewest steps the
    widget offers; a run that makes the README picture keeps the chapter's setting."""
    if labdriver.UPDATE_SCREENSHOTS:
        labdriver.button(output, "Train").click()
        return "Train"
    steps = labdriver.slider_handle(output, "steps")
    steps.focus()
    steps.press("Home")
    labdriver.button(output, "Train").click()
    return "steps slider to its minimum, then Train"


# A chapter's own way to change its widget, tried before the generic order (dropdown, slider,
# toggle, radio, checkbox, button). Chapters not listed need none.
RECIPES = {"01_gan_losses": _train}


# "slice": only the cells the widgets need (fast; tests/notebooks runs every cell anyway).
# GENLAB_BROWSER_FULL=1 runs every non-exercise cell up to the widgets, as a learner would.
MODES = ("full",) if os.environ.get("GENLAB_BROWSER_FULL", "") not in {"", "0"} else (
    "slice", "full")


@pytest.mark.parametrize(
    "notebook",
    CHAPTERS or [pytest.param(None, marks=pytest.mark.skip(
        reason="no chapter notebook under chapters/ or solutions/ uses genlab.widgets yet"))],
    ids=[c.chapter for c in CHAPTERS] or ["none"],
)
def test_chapter_widget_renders_and_reacts_to_its_controls(notebook, page, lab_server, lab_root,
                                                           screenshot_dir):
    clock = labdriver.Stopwatch()
    for mode in MODES:
        target, widget_cells = labdriver.prepare_chapter(
            notebook.path, lab_root / "chapters" / notebook.chapter, mode=mode)
        assert widget_cells >= 1, f"{notebook.path} mentions genlab.widgets in no code cell"
        labdriver.open_notebook(page, lab_server, target.relative_to(lab_root).as_posix(),
                                workspace=f"{notebook.chapter}-{mode}")
        clock.lap(f"open {mode}")
        try:
            labdriver.run_all(page, timeout=300)
            clock.lap(f"run {mode}")
            break
        except labdriver.CellError as error:
            labdriver.shutdown_kernel(page)
            if mode == "full":
                raise
            warnings.warn(f"{notebook.chapter}: the sliced notebook failed ({error}); "
                          "ran the chapter's cells up to the widgets instead", stacklevel=1)
    try:
        outputs = labdriver.widget_outputs(page)
        assert outputs.count() >= 1, "no widget rendered"
        for number, output in enumerate(outputs.all(), start=1):
            shown = labdriver.settle(page, output)
            suffix = "" if number == 1 else f"_{number}"
            picture = screenshot_dir / f"{notebook.chapter}_widget{suffix}.png"
            # The picture shows the widget as first drawn; one that draws nothing before a
            # button press (e.g. "Train") is pictured after the change instead.
            has_figure = '"images":[]' not in shown
            if has_figure:
                labdriver.save_widget_png(output, picture)
            change = labdriver.change_a_control(page, output,
                                                recipe=RECIPES.get(notebook.chapter))
            assert change.changed, (f"widget {number} of {notebook.chapter}: no control changed "
                                    f"its figure or numbers; tried {change.tried}")
            if not has_figure:
                labdriver.save_widget_png(output, picture)
            clock.lap(f"widget {number}")
            print(f"{notebook.chapter} widget {number}: {change.description} -> {picture}")
    finally:
        labdriver.shutdown_kernel(page)
        print(f"{notebook.chapter} seconds: {clock}")
