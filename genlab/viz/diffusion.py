"""Figures of the diffusion chapter: schedules, noised digits, samples side by side."""

from __future__ import annotations

import torch

from genlab._checks import check_mapping, check_module
from genlab.viz.base import image_grid


def plot_schedule_curves(curves: dict[str, dict[str, torch.Tensor]], axes=None):
    """alpha-bar_t and log-SNR(t) of several schedules on two axes.

    ``curves``: ``{label: {"t", "alphas_cumprod", "log_snr"}}`` as returned by
    :func:`genlab.widgets.noise_schedule.schedule_curves`. Returns the two Axes.
    """
    check_mapping("curves", curves, "a dict {label: ...}")
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7.5, 2.6))
    for label, c in curves.items():
        axes[0].plot(c["t"].numpy(), c["alphas_cumprod"].numpy(), label=label, lw=1.2)
        axes[1].plot(c["t"].numpy(), c["log_snr"].numpy(), label=label, lw=1.2)
    axes[0].set_title(r"$\bar\alpha_t$ (signal kept)", fontsize=9)
    axes[1].set_title(r"$\log \mathrm{SNR}(t)$", fontsize=9)
    for ax in axes:
        ax.set_xlabel("t", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[1].legend(fontsize=7)
    axes[0].figure.tight_layout()
    return axes


def plot_noised_rows(rows: dict[str, torch.Tensor], timesteps: list[int], axes=None):
    """One row of noised images per schedule: ``rows[label]`` is ``(len(timesteps), 1, H, W)``."""
    check_mapping("rows", rows, "a dict {label: ...}")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), len(timesteps)
    if axes is None:
        _, axes = plt.subplots(n_rows, n_cols, figsize=(0.75 * n_cols + 0.8, 0.85 * n_rows),
                               squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c, t in enumerate(timesteps):
            ax = axes[r][c]
            img = ((images[c, 0].detach().cpu() + 1) / 2).clamp(0, 1)
            ax.imshow(img.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={t}", fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    return axes


def plot_side_by_side(samples: dict[str, torch.Tensor], ncols: int = 8):
    """Sample grids next to each other, one titled panel per entry of ``samples``."""
    check_mapping("samples", samples, "a dict {label: ...}")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(samples), figsize=(3.2 * len(samples), 2.2), squeeze=False)
    for ax, (label, images) in zip(axes[0], samples.items()):
        image_grid(images, ncols=ncols, ax=ax, title=label)
    fig.tight_layout()
    return axes[0]
