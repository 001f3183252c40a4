"""genlab.viz.LiveLossPlot: any loop feeds it through its callback; series in panels apart."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from genlab.train.history import History  # noqa: E402
from genlab.viz import LiveLossPlot  # noqa: E402


def _history(n=30):
    history = History()
    for step in range(1, n + 1):
        history.log(step, d_loss=1.0 / step, g_loss=5.0 + step)
    return history


def test_g_and_d_get_panels_of_their_own_with_their_own_scales():
    plot = LiveLossPlot({"D": ["d_loss"], "G": ["g_loss"]}, every=10)
    history = _history()
    for step in range(1, 31):
        plot(step, history)
    assert plot.draws == 3
    d_ax, g_ax = plot.axes
    assert [ax.get_title() for ax in plot.axes] == ["D", "G"]
    # each axis fits its own series: G's values (6..35) would flatten D's (0.03..1)
    assert d_ax.get_ylim()[1] < 2 and g_ax.get_ylim()[0] > 4
    (d_line,) = d_ax.get_lines()
    assert d_line.get_xdata().tolist() == list(range(1, 31))


def test_close_draws_the_final_state():
    plot = LiveLossPlot(["d_loss", "g_loss"], every=1000, smooth=5)
    history = _history(12)
    for step in range(1, 13):
        plot(step, history)
    assert plot.draws == 0
    assert plot.close() is None
    assert plot.draws == 1 and len(plot.fig.axes) == 2
    (line,) = plot.axes[0].get_lines()
    assert len(line.get_xdata()) == 12 - 5 + 1  # moving average of 5


def test_it_is_the_callback_of_every_loop():
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator
    from genlab.toys.optimizers import train_regression
    from genlab.train.gan import GANConfig, train_gan
    from genlab.train.gan_digits import train_gan_digits

    gan_plot = LiveLossPlot({"D": ["d_loss"], "G": ["g_loss"]}, every=2)
    train_gan(GANConfig(steps=4, batch_size=8, n_snapshot=8), lambda n: torch.randn(n, 2),
              MLPGenerator(hidden=8), MLPDiscriminator(hidden=8), callbacks=[gan_plot])
    assert gan_plot.draws == 2
    digits_plot = LiveLossPlot(every=3)  # panels found in the history: d_loss, d_real, ...
    images = torch.rand(8, 1, 8, 8) * 2 - 1
    train_gan_digits(DigitsGenerator(width=4), DigitsDiscriminator(width=4), 3, images=images,
                     batch_size=4, callback=digits_plot)
    assert digits_plot.draws == 1 and "g_loss" in digits_plot.panels
    fit_plot = LiveLossPlot(["loss", "val_loss"], every=5)
    train_regression(steps=10, eval_every=5, callback=fit_plot)
    assert fit_plot.draws == 2


def test_grading_skips_the_redraws(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    plot = LiveLossPlot(["d_loss"], every=1)
    history = _history(5)
    for step in range(1, 6):
        plot(step, history)
    assert plot.draws == 0
    plot.close()
    assert plot.draws == 1


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(every=0), ValueError, "every must be >= 1"),
    (dict(smooth=1.5), TypeError, "smooth must be an int"),
    (dict(panels={"D": "d_loss"}), TypeError, "panels must be a dict"),
    (dict(panels=42), TypeError, "panels must be a dict"),
])
def test_bad_settings_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        LiveLossPlot(**kwargs)


def test_update_needs_a_history():
    with pytest.raises(TypeError, match="history must be a genlab.train.History"):
        LiveLossPlot(["loss"]).update({"loss": [1.0]})


def test_in_a_notebook_it_shows_one_figure_updated_in_place():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = (
        "%matplotlib inline\n"
        "from genlab.train.history import History\n"
        "from genlab.viz import LiveLossPlot\n"
        "plot, history = LiveLossPlot(['d_loss', 'g_loss'], every=1), History()\n"
        "for step in range(1, 4):\n"
        "    history.log(step, d_loss=1.0 / step, g_loss=float(step))\n"
        "    plot(step, history)\n"
        "print(plot.draws)\n"
        "plot.close()"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # shown once, then updated (no second copy at the cell's end)
    assert any(o.get("text", "").strip() == "3" for o in outputs if o.output_type == "stream")
