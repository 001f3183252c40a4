"""The browser harness itself, proved on a notebook made here (no chapter needed).

A slider that redraws a matplotlib figure (slowly, in two steps) must be seen to change it,
and the harness must wait for the final picture; a slider wired to nothing must be seen NOT
to change anything, so the chapter tests can fail.
"""

from __future__ import annotations

import labdriver
import nbformat
import pytest

# One JupyterLab for the session: with ``-n N --dist loadgroup`` all run on one xdist worker.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(240), pytest.mark.xdist_group("browser")]

LIVE_WIDGET = '''\
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

frequency = widgets.IntSlider(value=1, min=1, max=6, description="frequency")
caption = widgets.Label()
figure_out = widgets.Output()

def redraw(change=None):
    if change is not None:
        # Draw a first time, then work on, as live-training widgets do: JupyterLab then shows
        # the kernel idle while it is still busy; the harness must wait for the end anyway.
        with figure_out:
            figure_out.clear_output(wait=True)
            print("drawing...")
        time.sleep(2)
    caption.value = f"peaks shown: {frequency.value}"
    with figure_out:
        figure_out.clear_output(wait=True)
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.plot([(i % (12 // frequency.value + 1)) for i in range(60)])
        plt.show()

frequency.observe(redraw, names="value")
redraw()
display(widgets.VBox([frequency, caption, figure_out]))
'''

DEAD_WIDGET = '''\
import ipywidgets as widgets
widgets.VBox([widgets.IntSlider(value=1, min=0, max=9, description="unwired"),
              widgets.Label("this text never changes")])
'''


def _write(lab_root, name: str, sources: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    folder = lab_root / "harness"
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / name)
    return f"harness/{name}"


def test_slider_change_redraws_the_figure_in_jupyterlab(page, lab_server, lab_root, tmp_path):
    path = _write(lab_root, "live.ipynb", ["print('setup ran')", LIVE_WIDGET])
    labdriver.open_notebook(page, lab_server, path, workspace="harness-live")
    labdriver.run_all(page, timeout=120)
    outputs = labdriver.widget_outputs(page)
    assert outputs.count() == 1
    output = outputs.first
    assert output.locator(".widget-slider").count() == 1
    before = labdriver.settle(page, output)
    assert "peaks shown: 1" in before and "data:image/png" in before

    change = labdriver.change_a_control(page, output)

    assert change.changed, change.tried
    assert change.control == "slider"
    after = labdriver.fingerprint(output)
    assert "peaks shown: 2" in after and "drawing" not in after  # the end of the callback
    png = labdriver.save_widget_png(output, tmp_path / "harness_widget.png")
    assert png.stat().st_size < 150_000
    labdriver.shutdown_kernel(page)


def test_harness_reports_a_control_that_changes_nothing(page, lab_server, lab_root):
    path = _write(lab_root, "dead.ipynb", [DEAD_WIDGET])
    labdriver.open_notebook(page, lab_server, path, workspace="harness-dead")
    labdriver.run_all(page, timeout=60)
    output = labdriver.widget_outputs(page).first

    change = labdriver.change_a_control(page, output, timeout=20)

    assert not change.changed
    assert change.tried == ["slider 1 -> 2"]  # the slider moved; the output did not change
    labdriver.shutdown_kernel(page)
