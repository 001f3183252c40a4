"""Figures of few-shot GAN transfer (chapter 07, section 9; :mod:`genlab.finetune.gan_transfer`).

Each function takes what ``transfer_gan`` and ``class_histogram`` return and draws it;
matplotlib loads on the first drawing.
"""

from __future__ import annotations

import torch

from genlab.viz.base import _plt

__all__ = ["plot_class_histograms", "plot_memorisation", "plot_transfer_curves"]


def _check_runs(histories: dict, series: tuple[str, ...]) -> None:
    if not isinstance(histories, dict) or not histories:
        raise ValueError("histories must be a dict holding at least one run {label: History}")
    for label, history in histories.items():
        missing = [name for name in series if name not in history]
        if missing:
            raise ValueError(f"histories[{label!r}] has no series {missing}; pass the "
                             "History that genlab.finetune.gan_transfer.transfer_gan returns")


def plot_transfer_curves(histories: dict, axes=None, floor: float | None = None):
    """Digits-FID to held-out nines (left) and to the old digits 0-8 (right), over steps.

    histories: ``{label: History from transfer_gan}``; each run's best step (what early
    stopping keeps) is starred. floor: an optional dashed reference line on the left
    panel, e.g. the FID of the training images themselves. Log-scaled y axes (the curves
    span two orders of magnitude). Returns the two Axes.
    """
    _check_runs(histories, ("fid_nines", "fid_0to8"))
    if axes is None:
        _, axes = _plt().subplots(1, 2, figsize=(8, 2.8))
    for label, history in histories.items():
        steps = history.steps["fid_nines"]
        line, = axes[0].plot(steps, history["fid_nines"], marker=".", label=label)
        best = history.meta.get("best_step")
        if best in steps:
            axes[0].plot(best, history["fid_nines"][steps.index(best)], "*", ms=12,
                         color=line.get_color())
        axes[1].plot(history.steps["fid_0to8"], history["fid_0to8"], marker=".",
                     color=line.get_color(), label=label)
    if floor is not None:
        axes[0].axhline(floor, color="gray", ls="--", lw=1, label="the training nines")
    axes[0].set(title="FID to held-out nines (star: best)", xlabel="step",
                ylabel="digits-FID", yscale="log")
    axes[1].set(title="FID to the old digits 0-8", xlabel="step", yscale="log")
    axes[0].legend(fontsize=8)
    axes[0].figure.tight_layout()
    return axes


def plot_memorisation(history, ax=None):
    """Mean feature distance from a sample to its nearest training vs held-out nine.

    When the training curve drops below the held-out one, the generator prefers the
    images it was trained on over new nines of the same kind: it is memorising them.
    Returns the Axes.
    """
    _check_runs({"history": history}, ("nn_train", "nn_held_out"))
    if ax is None:
        _, ax = _plt().subplots(figsize=(4, 2.8))
    ax.plot(history.steps["nn_train"], history["nn_train"], marker=".",
            label="to the nearest training nine")
    ax.plot(history.steps["nn_held_out"], history["nn_held_out"], marker=".",
            label="to the nearest held-out nine")
    ax.set(title="closeness to the training images", xlabel="step",
           ylabel="feature distance", yscale="log")
    ax.legend(fontsize=8)
    return ax


def plot_class_histograms(histograms: dict, ax=None):
    """Grouped bars: the share of samples read as each digit, one group per ``{label: (10,)}``."""
    if not isinstance(histograms, dict) or not histograms:
        raise ValueError("histograms must be a dict holding at least one {label: (10,) shares}")
    if ax is None:
        _, ax = _plt().subplots(figsize=(6, 2.4))
    width = 0.8 / len(histograms)
    for i, (label, shares) in enumerate(histograms.items()):
        shares = torch.as_tensor(shares, dtype=torch.float32)
        if shares.shape != (10,):
            raise ValueError(f"histograms[{label!r}] must have shape (10,), "
                             f"got {tuple(shares.shape)}")
        offset = (i - (len(histograms) - 1) / 2) * width
        ax.bar((torch.arange(10) + offset).numpy(), shares.numpy(), width, label=label)
    ax.set(xticks=range(10), xlabel="digit read by the classifier",
           ylabel="share of samples", ylim=(0, 1))
    ax.legend(fontsize=8)
    return ax
