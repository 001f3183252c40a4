"""Shared figures build and validate their input."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from genlab import viz  # noqa: E402
from genlab.train import History  # noqa: E402


def test_image_grid_lays_out_images_in_rows():
    ax = viz.image_grid(torch.rand(12, 1, 8, 8) * 2 - 1, ncols=5)
    shown = ax.get_images()[0].get_array()
    assert shown.shape == (3 * 9 - 1, 5 * 9 - 1)
    with pytest.raises(ValueError, match="one channel"):
        viz.image_grid(torch.zeros(2, 3, 8, 8))
    with pytest.raises(TypeError, match="images"):
        viz.image_grid([[0.0]])


def test_scatter_and_series_plot():
    ax = viz.scatter_2d(torch.randn(50, 2), torch.zeros(3, 2), lim=2)
    assert len(ax.collections) == 2
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        viz.scatter_2d(torch.randn(50, 3))
    h = History()
    for step in range(10):
        h.log(step, d_loss=step, g_loss=-step)
    ax = viz.plot_series(h, smooth=3)
    assert len(ax.lines) == 2 and len(ax.lines[0].get_xdata()) == 8
    with pytest.raises(ValueError, match="smooth"):
        viz.plot_series(h, smooth=0)
