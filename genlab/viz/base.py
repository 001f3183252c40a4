"""Figure helpers every chapter uses: image grids, 2-D scatters, loss curves.

matplotlib loads on first use. The chapters' own figures live beside these, one module
per chapter (:mod:`genlab.viz.gan`, ``.vae``, ``.diffusion``, ``.stabilize``).
"""

from __future__ import annotations

import math

import torch

from genlab._checks import check_history, check_mapping, check_module


def _plt():
    import matplotlib.pyplot as plt

    return plt


def image_grid(images: torch.Tensor, ncols: int = 10, ax=None, title: str | None = None):
    """Show images in a grid.

    images: ``(n, 1, h, w)`` or ``(n, h, w)`` in [-1, 1] (the course's digit range).
    Returns the matplotlib Axes.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {tuple(images.shape)}")
        images = images[:, 0]
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must have shape (n, 1, h, w) or (n, h, w), got {tuple(images.shape)}")
    images = ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)
    n, h, w = images.shape
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    canvas = torch.zeros(nrows * (h + 1) - 1, ncols * (w + 1) - 1)  # white gaps (gray_r)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = img
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * ncols + 0.4, 0.45 * nrows + 0.4))
    ax.imshow(canvas.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def scatter_2d(samples: torch.Tensor, centers: torch.Tensor | None = None, ax=None,
               title: str | None = None, lim: float | None = None):
    """Scatter ``(n, 2)`` samples, with the true mode centers ``(k, 2)`` as red crosses."""
    if not isinstance(samples, torch.Tensor) or samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError("samples must be a tensor of shape (n, 2)")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    pts = samples.detach().float().cpu().numpy()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="tab:blue", linewidths=0)
    if centers is not None:
        c = centers.detach().cpu().numpy()
        ax.scatter(c[:, 0], c[:, 1], marker="x", s=25, color="tab:red", linewidths=1)
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def moving_average(xs: torch.Tensor, ys: torch.Tensor, window: int):
    """``(xs, ys)`` with ``ys`` averaged over ``window`` consecutive points (1-D float64);
    each average is placed at the step of its last point. Fewer points than ``window``
    (or ``window`` 1) return the series as it is."""
    if window > 1 and len(ys) >= window:
        kernel = torch.ones(window, dtype=torch.float64) / window
        ys = torch.nn.functional.conv1d(ys.view(1, 1, -1), kernel.view(1, 1, -1)).view(-1)
        xs = xs[window - 1:]
    return xs, ys


def plot_series(history, names: list[str] | None = None, ax=None, smooth: int = 1,
                title: str | None = None, logy: bool = False):
    """Plot recorded series of a :class:`genlab.train.History` against their steps.

    ``smooth`` > 1 applies a moving average of that many points, for noisy losses.
    """
    check_history("history", history)
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be an int >= 1, got {smooth!r}")
    names = names or history.names()
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for name in names:
        ys = torch.tensor(history[name], dtype=torch.float64)
        xs = torch.tensor(history.steps[name], dtype=torch.float64)
        xs, ys = moving_average(xs, ys, smooth)
        ax.plot(xs.numpy(), ys.numpy(), label=name, lw=1)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
