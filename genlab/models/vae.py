"""A small VAE for the 8x8 digits: an MLP encoder to ``(mu, logvar)``, an MLP decoder.

Taught in chapter 02_vae_elbo (Kingma & Welling, "Auto-Encoding Variational Bayes",
ICLR 2014, appendix C: MLP encoder and decoder). Small enough to train in seconds on a
CPU; ``latent_dim=2`` gives a latent space you can plot.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab._checks import check_choice, check_int, check_tensor
from genlab.losses.vae import LIKELIHOODS, reparameterize

IMAGE_SHAPE = (1, 8, 8)
N_PIXELS = 64


class DigitsVAE(nn.Module):
    """VAE on ``(batch, 1, 8, 8)`` digits in [-1, 1].

    latent_dim: size of ``z`` (2 for plots; 8 to 16 for better likelihoods).
    hidden: width of the two hidden layers of encoder and decoder.
    likelihood: ``"bernoulli"`` (the decoder outputs logits) or ``"gaussian"`` (the
      decoder outputs the mean, in [-1, 1] through a ``tanh``). It only changes what
      :meth:`decode` returns and how :meth:`mean_image` reads it; the loss is
      :func:`genlab.losses.vae.elbo_loss` with the same ``likelihood``.
    """

    def __init__(self, latent_dim: int = 2, hidden: int = 128, likelihood: str = "bernoulli"):
        super().__init__()
        check_int("latent_dim", latent_dim, minimum=1)
        check_int("hidden", hidden, minimum=1)
        check_choice("likelihood", likelihood, LIKELIHOODS)
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(N_PIXELS, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * latent_dim),  # mu and logvar side by side
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, N_PIXELS),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, 1, 8, 8)`` images -> ``mu, logvar``, each ``(batch, latent_dim)``."""
        check_tensor("x", x, ndim=4)
        if tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"x must have shape (batch, 1, 8, 8), got {tuple(x.shape)}")
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(batch, latent_dim)`` -> ``(batch, 1, 8, 8)``: logits (Bernoulli) or mean."""
        check_tensor("z", z, ndim=2)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} columns, got shape {tuple(z.shape)}")
        return self.decode_unchecked(z)

    def decode_unchecked(self, z: torch.Tensor) -> torch.Tensor:
        """:meth:`decode` without input checks, for training loops (checks cost a sync)."""
        out = self.decoder(z).view(len(z), *IMAGE_SHAPE)
        return torch.tanh(out) if self.likelihood == "gaussian" else out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``recon, mu, logvar``: decoder output for one reparameterized ``z`` per image."""
        mu, logvar = self.encode(x)
        return self.decode(reparameterize(mu, logvar)), mu, logvar

    def mean_image(self, decoded: torch.Tensor) -> torch.Tensor:
        """The decoder's expected image in [-1, 1] (``2 * sigmoid(logits) - 1`` for Bernoulli)."""
        if self.likelihood == "bernoulli":
            return 2.0 * torch.sigmoid(decoded) - 1.0
        return decoded

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Mean images ``(batch, 1, 8, 8)`` in [-1, 1] decoded from ``z = mu(x)``, no sampling."""
        mu, _ = self.encode(x)
        return self.mean_image(self.decode(mu))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean images in [-1, 1] decoded from ``n`` draws of the prior ``N(0, I)``."""
        check_int("n", n, minimum=1)
        device = next(self.parameters()).device
        # drawn on the CPU (where a seeded generator usually lives), then moved
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.mean_image(self.decode(z))
