"""Figures of chapter 05_stabilization (matplotlib loads on first use)."""

from __future__ import annotations

import torch

from genlab._checks import check_mapping, check_module
from genlab.stabilize import real_loss_and_grad


def plot_label_smoothing(smoothing: float, trained_plain: dict, trained_smoothed: dict,
                         logit_range: float = 8.0):
    """Three panels: real-sample D loss vs logit, its gradient, and D's output histograms.

    trained_plain / trained_smoothed: results of
    :func:`genlab.widgets.label_smoothing.train_discriminator` with smoothing 0 and
    ``smoothing``. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    logits = torch.linspace(-logit_range, logit_range, 401)
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    for s, style in [(0.0, "--"), (smoothing, "-")]:
        loss, grad = real_loss_and_grad(logits, s)
        axes[0].plot(logits, loss, style, label=f"s = {s:.2f}")
        axes[1].plot(logits, grad, style, label=f"s = {s:.2f}")
    axes[1].axhline(0, color="gray", lw=0.5)
    axes[0].set(xlabel="D's logit on a real sample", ylabel="D loss", title="loss on real")
    axes[1].set(xlabel="D's logit on a real sample", ylabel="d loss / d logit",
                title="its gradient")
    bins = torch.linspace(0, 1, 41).numpy()
    for result, s, color in [(trained_plain, 0.0, "tab:gray"),
                             (trained_smoothed, smoothing, "tab:blue")]:
        for key, hatch in [("real_logits", None), ("fake_logits", "//")]:
            probs = torch.sigmoid(result[key]).numpy()
            label = f"s = {s:.2f}, {key.split('_')[0]}"
            axes[2].hist(probs, bins=bins, alpha=0.5, color=color, hatch=hatch, label=label)
    axes[2].set(xlabel="D(x) = sigmoid(logit)", ylabel="count (log scale)", yscale="log",
                title="trained D's outputs")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_norm_traces(traces: dict[str, list[float]], max_norm: float | None = None, ax=None,
                     title: str | None = None):
    """Gradient-norm traces (one line per run, log scale), with the clipping threshold."""
    check_mapping("traces", traces, "a dict {label: gradient norms}")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for name, values in traces.items():
        ax.plot(values, label=name, lw=1)
    if max_norm is not None:
        ax.axhline(max_norm, color="tab:red", ls=":", lw=1, label=f"max_norm = {max_norm:g}")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="gradient norm before clipping")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
