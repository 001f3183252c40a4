"""Figures of chapter 01_gan_losses (matplotlib loads on first use)."""

from __future__ import annotations

import torch

from genlab._checks import check_int, check_mapping, check_module, check_positive
from genlab.losses.gan import g_loss_minimax, g_loss_nonsaturating
from genlab.metrics.modes import nearest_mode
from genlab.viz.base import scatter_2d


def generator_gradients(d_of_fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """|d loss / d logit| of the saturating and non-saturating generator losses.

    d_of_fake: ``(n,)`` values of D(G(z)) in (0, 1). The gradients are taken by autograd
    through :func:`genlab.losses.gan.g_loss_minimax` and
    :func:`genlab.losses.gan.g_loss_nonsaturating` (per sample, so the batch mean's
    1/n is undone). Returns ``{"saturating": (n,), "non-saturating": (n,)}``.
    """
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
    check_mapping("samples", samples, "a dict {(dataset, loss): (n, 2) samples}")
    import matplotlib.pyplot as plt

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
    check_mapping("critics", critics, "a dict {label: critic module}")
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


def latent_partition(generator, centers: torch.Tensor, std: float, lim: float = 3.0,
                     resolution: int = 200, n_std: float = 3.0) -> torch.Tensor:
    """Which mode each point of a 2-D latent plane lands in.

    Evaluates ``generator`` (latent_dim 2) on a ``resolution x resolution`` grid over
    ``[-lim, lim]^2`` and returns ``(resolution, resolution)`` int64 labels, row ``i``
    being latent ``z_2`` from ``-lim`` up: the index of the nearest mode in ``centers``
    where the sample is high quality (within ``n_std * std``), ``-1`` where it is not
    (the bridges between modes).
    """
    check_positive("lim", lim)
    check_int("resolution", resolution, minimum=2)
    latent_dim = getattr(generator, "latent_dim", None)
    if latent_dim != 2:
        raise ValueError(f"generator must take 2-D noise to draw its latent plane, "
                         f"got latent_dim={latent_dim}")
    ticks = torch.linspace(-lim, lim, resolution)
    z2, z1 = torch.meshgrid(ticks, ticks, indexing="ij")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        samples = generator(z.to(device)).float().cpu()
    generator.train(was_training)
    dist, nearest = nearest_mode(samples, centers, std, n_std)
    labels = torch.where(dist <= n_std * std, nearest, torch.full_like(nearest, -1))
    return labels.reshape(resolution, resolution)


def plot_latent_partition(generator, centers: torch.Tensor, std: float, lim: float = 3.0,
                          resolution: int = 200, ax=None, title: str | None = None):
    """Draw :func:`latent_partition`: one colour per mode, black for the bridges, with
    the circles that hold 39%, 86% and 99% of ``N(0, I)``'s mass (radii 1, 2, 3).

    Returns ``(ax, bridge_share)``, the share of ``N(0, I)``'s mass that lands on bridges
    (the plane's black area weighted by the Gaussian density).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    labels = latent_partition(generator, centers, std, lim, resolution)
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.4))
    n_modes = len(centers)
    palette = plt.get_cmap("tab20" if n_modes > 10 else "tab10")
    colours = [(0, 0, 0, 1)] + [palette(k % palette.N) for k in range(n_modes)]
    ax.imshow((labels + 1).numpy(), origin="lower", extent=(-lim, lim, -lim, lim),
              cmap=ListedColormap(colours), vmin=0, vmax=n_modes, interpolation="nearest")
    for radius in (1, 2, 3):
        ax.add_patch(plt.Circle((0, 0), radius, fill=False, color="white", lw=0.6, ls="--"))
    ticks = torch.linspace(-lim, lim, resolution)
    density = torch.exp(-0.5 * (ticks[:, None] ** 2 + ticks[None, :] ** 2))
    bridge_share = float((density * (labels < 0)).sum() / density.sum())
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title or f"latent plane: {bridge_share:.1%} of N(0, I) on bridges", fontsize=9)
    return ax, bridge_share


def plot_mode_zoom(samples: torch.Tensor, centers: torch.Tensor, std: float,
                   center: tuple[float, float] = (3.0, 3.0), half_width: float = 1.3,
                   ax=None, title: str | None = None):
    """Zoom on the modes near ``center``: samples ``(n, 2)`` as dots, each mode's
    high-quality disc (radius 3 std) as a red circle. Returns ``ax``."""
    import matplotlib.pyplot as plt

    ax = scatter_2d(samples, None, ax=ax, title=title)
    for cx, cy in centers.detach().cpu().tolist():
        ax.add_patch(plt.Circle((cx, cy), 3 * std, fill=False, color="tab:red", lw=0.8))
    ax.set_xlim(center[0] - half_width, center[0] + half_width)
    ax.set_ylim(center[1] - half_width, center[1] + half_width)
    return ax
