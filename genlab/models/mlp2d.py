"""Small MLP generator and discriminator for 2-D toy data (chapter 01_gan_losses).

The sizes follow the 2-D experiments of VEEGAN and PacGAN in spirit (a few fully
connected ReLU layers of a few hundred units), shrunk so that a run trains in seconds
on a CPU.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from genlab._checks import check_int, check_tensor


def _mlp(in_dim: int, hidden: int, n_hidden: int, out_dim: int, activation) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden), activation()]
        width = hidden
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Maps latent noise ``z ~ N(0, I)`` of shape ``(batch, latent_dim)`` to ``(batch, 2)``.

    ``latent_dim`` (default 2), ``hidden`` units (128) in each of ``n_hidden`` (3) ReLU
    layers; linear output, so the generator can reach any point of the plane.
    """

    def __init__(self, latent_dim: int = 2, hidden: int = 128, n_hidden: int = 3,
                 out_dim: int = 2):
        super().__init__()
        check_int("latent_dim", latent_dim, minimum=1)
        check_int("hidden", hidden, minimum=1)
        check_int("n_hidden", n_hidden, minimum=0)
        check_int("out_dim", out_dim, minimum=1)
        self.latent_dim = latent_dim
        self.net = _mlp(latent_dim, hidden, n_hidden, out_dim, nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # finite=False: a NaN check here would cost a device sync per step; the training
        # loops' NaN guard looks at the outputs
        check_tensor("z", z, finite=False)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}"
            )
        return self.net(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` generated points ``(n, out_dim)`` without gradients, on the model's device."""
        check_int("n", n, minimum=1)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator)
        with torch.no_grad():
            return self(z.to(device))


class MLPDiscriminator(nn.Module):
    """Scores ``(batch, in_dim)`` points; returns raw outputs of shape ``(batch,)``.

    Raw means a logit for the minimax losses and a score for LSGAN, WGAN and hinge.
    ``n_hidden`` (3) LeakyReLU(0.2) layers of ``hidden`` (128) units. With
    ``spectral_norm=True`` every linear layer is wrapped in
    ``torch.nn.utils.parametrizations.spectral_norm`` (Miyato et al. 2018).
    """

    def __init__(self, in_dim: int = 2, hidden: int = 128, n_hidden: int = 3,
                 spectral_norm: bool = False):
        super().__init__()
        check_int("in_dim", in_dim, minimum=1)
        check_int("hidden", hidden, minimum=1)
        check_int("n_hidden", n_hidden, minimum=0)
        self.in_dim = in_dim
        self.net = _mlp(in_dim, hidden, n_hidden, 1, lambda: nn.LeakyReLU(0.2))
        if spectral_norm:
            add_spectral_norm_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, finite=False)
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"x must have shape (batch, {self.in_dim}), got {tuple(x.shape)}")
        return self.net(x).squeeze(1)


def has_spectral_norm(module: nn.Module) -> bool:
    """True if some layer of ``module`` has a spectral-norm parametrization on its weight."""
    return any(parametrize.is_parametrized(m, "weight") for m in module.modules())


def add_spectral_norm_(module: nn.Module) -> nn.Module:
    """Wrap the weight of every ``Linear``/``Conv`` layer of ``module`` in spectral norm.

    Uses ``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per
    forward pass in training mode). Layers already parametrized are left alone.
    Returns ``module`` (changed in place).
    """
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            if not parametrize.is_parametrized(layer, "weight"):
                spectral_norm(layer)
    return module
