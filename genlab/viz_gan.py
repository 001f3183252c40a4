"""Figures of chapter 01_gan_losses (matplotlib loads on first use)."""

from __future__ import annotations

import torch


def generator_gradients(d_of_fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """|d loss / d logit| of the saturating and non-saturating generator losses.

    d_of_fake: ``(n,)`` values of D(G(z)) in (0, 1). The gradients are taken by autograd
    through :func:`genlab.losses.gan.g_loss_minimax` and
    :func:`genlab.losses.gan.g_loss_nonsaturating` (per sample, so the batch mean's
    1/n is undone). Returns ``{"saturating": (n,), "non-saturating": (n,)}``.
    """
    from genlab.losses.gan import g_loss_minimax, g_loss_nonsaturating

    if not isinstance(d_of_fake, torch.Tensor) or d_of_fake.ndim != 1:
        raise ValueError("d_of_fake must be a tensor of shape (n,)")
    if not ((d_of_fake > 0) & (d_of_fake < 1)).all():
        raise ValueError("d_of_fake must lie strictly between 0 and 1")
    logits = torch.logit(d_of_fake.double())
    grads = {}
    for name, fn in [("saturating", g_loss_minimax), ("non-saturating", g_loss_nonsaturating)]:
        x = logits.clone().requires_grad_(True)
        fn(x).backward()
        grads[name] = (x.grad * len(x)).abs()
    return grads


def plot_generator_gradients(ax=None, lowest: float = 1e-4):
    """Figure: the generator's gradient (w.r.t. D's logit) as D(G(z)) goes to 0."""
    import matplotlib.pyplot as plt

    d_of_fake = torch.logspace(torch.log10(torch.tensor(lowest)).item(), -0.001, 200)
    grads = generator_gradients(d_of_fake)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for name, values in grads.items():
        ax.plot(d_of_fake.numpy(), values.numpy(), label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("D(G(z))  (D is sure the sample is fake on the left)")
    ax.set_ylabel("|dL_G / d logit|")
    ax.legend(fontsize=8)
    return ax


def plot_gallery(samples: dict, centers: dict, titles: dict | None = None, ncols: int = 6,
                 size: float = 1.6):
    """Grid of scatter plots: ``samples[(row, col)]`` is ``(n, 2)``; ``centers[row]`` the modes.

    Rows are data sets, columns configurations; ``titles[(row, col)]`` labels each panel.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    from genlab.viz import scatter_2d

    rows = list(dict.fromkeys(r for r, _ in samples))
    cols = list(dict.fromkeys(c for _, c in samples))
    ncols = min(ncols, len(cols))
    fig, axes = plt.subplots(len(rows), ncols, figsize=(size * ncols, size * len(rows) + 0.3),
                             squeeze=False)
    for i, row in enumerate(rows):
        lim = 1.5 if centers[row].abs().max() <= 1.5 else 5.5
        for j, col in enumerate(cols[:ncols]):
            title = (titles or {}).get((row, col), f"{row}: {col}")
            scatter_2d(samples[(row, col)], centers[row], ax=axes[i, j], lim=lim, title=title)
            axes[i, j].title.set_fontsize(7)
    fig.tight_layout()
    return fig


def plot_weight_histograms(critics: dict, clip: float | None = None, ax=None):
    """Histograms of all weights (not biases) of each critic in ``critics`` (name -> module).

    ``clip`` draws the clipping bounds as dashed lines.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for name, critic in critics.items():
        weights = torch.cat([p.detach().flatten().cpu() for n, p in critic.named_parameters()
                             if "weight" in n])
        ax.hist(weights.numpy(), bins=80, alpha=0.6, label=name, density=True)
    if clip is not None:
        for bound in (-clip, clip):
            ax.axvline(bound, color="k", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("critic weight value")
    ax.legend(fontsize=8)
    return ax
