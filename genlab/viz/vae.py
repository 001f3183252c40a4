"""Figures of chapter 02_vae_elbo: reconstructions, latent maps, KL per latent dimension.

matplotlib loads on first use, like :mod:`genlab.viz.base`.
"""

from __future__ import annotations

import torch

from genlab._checks import check_mapping, check_module

from genlab.viz.base import _plt, image_grid


def reconstruction_pairs(inputs: torch.Tensor, recons: torch.Tensor, ncols: int = 10,
                         ax=None, title: str | None = None):
    """Inputs (odd rows) above their reconstructions (even rows).

    inputs, recons: ``(n, 1, h, w)`` in [-1, 1], same shape; ``n`` is cut to a multiple
    of ``ncols``. Returns the matplotlib Axes.
    """
    if not isinstance(inputs, torch.Tensor) or not isinstance(recons, torch.Tensor):
        raise TypeError("inputs and recons must be torch.Tensors")
    if inputs.shape != recons.shape:
        raise ValueError(f"inputs and recons must have the same shape, got "
                         f"{tuple(inputs.shape)} and {tuple(recons.shape)}")
    n = (len(inputs) // ncols) * ncols
    if n == 0:
        raise ValueError(f"need at least ncols={ncols} images, got {len(inputs)}")
    rows = []
    for start in range(0, n, ncols):
        rows += [inputs[start:start + ncols].cpu(), recons[start:start + ncols].cpu()]
    return image_grid(torch.cat(rows), ncols=ncols, ax=ax, title=title)


def latent_scatter(mu: torch.Tensor, labels: torch.Tensor, ax=None, title: str | None = None):
    """Scatter the 2-D posterior means ``mu`` ``(n, 2)`` coloured by digit ``labels`` ``(n,)``."""
    if not isinstance(mu, torch.Tensor) or mu.ndim != 2 or mu.shape[1] != 2:
        raise ValueError("mu must be a tensor of shape (n, 2)")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(mu),):
        raise ValueError(f"labels must be a tensor of shape ({len(mu)},)")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.2))
    pts = mu.detach().float().cpu().numpy()
    points = ax.scatter(pts[:, 0], pts[:, 1], c=labels.cpu().numpy(), cmap="tab10",
                        vmin=-0.5, vmax=9.5, s=5, linewidths=0)
    ax.figure.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


@torch.no_grad()
def latent_manifold(model, n: int = 12, lim: float = 2.5, ax=None, title: str | None = None):
    """Decode an ``n`` x ``n`` grid of 2-D latent points in ``[-lim, lim]^2`` into images.

    ``model`` is a 2-D-latent :class:`genlab.models.vae.DigitsVAE`; the top row has the
    largest ``z_2``, the left column the smallest ``z_1``.
    """
    check_module("model", model)
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError("latent_manifold needs latent_dim=2, got "
                         f"{getattr(model, 'latent_dim', 'no latent_dim')}")
    device = next(model.parameters()).device
    axis = torch.linspace(-lim, lim, n)
    z2, z1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1).to(device)
    images = model.mean_image(model.decode(z))
    return image_grid(images, ncols=n, ax=ax, title=title)


def kl_heatmap(kl_by_run: dict[str, torch.Tensor], ax=None, title: str | None = None):
    """Rows: runs (e.g. ``"beta=4"``); columns: latent dimensions; colour and number: KL.

    kl_by_run: ``{name: (latent_dim,) KL per dimension in nats}``. A column near 0 is a
    dimension that collapsed to the prior.
    """
    check_mapping("kl_by_run", kl_by_run, "a dict {run name: (latent_dim,) KL}")
    if not kl_by_run:
        raise ValueError("kl_by_run is empty")
    table = torch.stack([torch.as_tensor(v, dtype=torch.float32).cpu()
                         for v in kl_by_run.values()])
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * table.shape[1] + 1.6, 0.38 * len(table) + 0.9))
    ax.imshow(table.numpy(), cmap="viridis", vmin=0, vmax=max(float(table.max()), 1e-3),
              aspect="auto")
    for (r, c), value in zip(torch.cartesian_prod(torch.arange(table.shape[0]),
                                                  torch.arange(table.shape[1])).tolist(),
                             table.flatten().tolist()):
        ax.text(c, r, f"{value:.1f}", ha="center", va="center", fontsize=7,
                color="white" if value < 0.6 * float(table.max()) else "black")
    ax.set_yticks(range(len(table)), list(kl_by_run))
    ax.set_xticks(range(table.shape[1]))
    ax.set_xlabel("latent dimension")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
