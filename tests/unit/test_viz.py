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


def test_latent_partition_labels_each_latent_point_by_its_mode_or_bridge():
    from torch import nn

    from genlab.viz import gan as viz_gan

    class StepGenerator(nn.Module):
        """z_1 < 0 -> mode 0 at (-1, 0), z_1 > 0.5 -> mode 1 at (1, 0), a bridge between."""

        latent_dim = 2

        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(1))

        def forward(self, z):
            x = torch.clamp(z[:, 0] * 4 - 1, -1, 1)  # -1 for z_1 <= 0, +1 for z_1 >= 0.5
            return torch.stack([x, torch.zeros_like(x)], dim=1)

    centers = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    labels = viz_gan.latent_partition(StepGenerator(), centers, std=0.01, lim=2.0, resolution=81)
    ticks = torch.linspace(-2, 2, 81)
    expected = torch.full((81,), -1, dtype=torch.int64)
    expected[ticks * 4 - 1 <= -0.97] = 0
    expected[ticks * 4 - 1 >= 0.97] = 1
    assert (labels == expected[None, :]).all()  # every row (z_2) alike
    ax, share = viz_gan.plot_latent_partition(StepGenerator(), centers, 0.01, lim=4.0,
                                              resolution=401)
    # bridge: 0.0075 < z_1 < 0.4925 -> N(0, 1) mass Phi(0.4925) - Phi(0.0075)
    normal = torch.distributions.Normal(0.0, 1.0)
    exact = float(normal.cdf(torch.tensor(0.4925)) - normal.cdf(torch.tensor(0.0075)))
    assert abs(share - exact) < 0.01
    with pytest.raises(ValueError, match="latent_dim"):
        viz_gan.latent_partition(nn.Linear(3, 2), centers, 0.01)


def test_plot_mode_zoom_draws_a_three_std_circle_per_mode_in_the_window():
    from genlab.viz import gan as viz_gan
    from genlab.data.toy2d import grid_centers

    ax = viz_gan.plot_mode_zoom(torch.zeros(5, 2) + 2.0, grid_centers(), 0.05,
                                center=(3.0, 3.0), half_width=1.3)
    assert ax.get_xlim() == (1.7, 4.3) and ax.get_ylim() == (1.7, 4.3)
    radii = {round(p.get_radius(), 6) for p in ax.patches}
    assert len(ax.patches) == 25 and radii == {0.15}
