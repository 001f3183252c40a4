"""A small DCGAN-style generator and discriminator for the 8x8 digits.

After Radford et al. (2016), "Unsupervised representation learning with deep
convolutional generative adversarial networks": strided (transposed) convolutions
instead of pooling, LeakyReLU(0.2) in D, ReLU and a final tanh in G. Batch
normalization is left out: at this size the nets train without it, and without it a
generator gives the same images in train and eval mode, which keeps periodic
evaluation (``genlab.train.hooks``) free of side effects.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab._checks import check_int, check_tensor


class DigitsGenerator(nn.Module):
    """``(n, latent_dim)`` noise -> ``(n, 1, 8, 8)`` images in [-1, 1].

    linear -> ``(2 * width, 4, 4)``, ReLU, transposed conv 4x4 stride 2 -> ``(width, 8, 8)``,
    ReLU, conv 3x3 -> 1 channel, tanh.
    """

    def __init__(self, latent_dim: int = 16, width: int = 32):
        super().__init__()
        check_int("latent_dim", latent_dim, minimum=1)
        check_int("width", width, minimum=1)
        self.latent_dim = latent_dim
        self.width = width
        self.project = nn.Linear(latent_dim, 2 * width * 4 * 4)
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_tensor("z", z, ndim=2, finite=False)
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}), got {tuple(z.shape)}")
        return self.body(self.project(z).view(len(z), 2 * self.width, 4, 4))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from standard-normal noise, on this module's device (no grad)."""
        check_int("n", n, minimum=1)
        device = self.project.weight.device
        z = torch.randn(n, self.latent_dim, generator=generator, device="cpu").to(device)
        with torch.no_grad():
            return self(z)


class DigitsDiscriminator(nn.Module):
    """``(n, 1, 8, 8)`` images -> ``(n,)`` logits (real > 0).

    conv 4x4 stride 2 -> ``(width, 4, 4)``, LeakyReLU(0.2), conv 4x4 stride 2 ->
    ``(2 * width, 2, 2)``, LeakyReLU(0.2), linear -> 1.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        check_int("width", width, minimum=1)
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * 2 * 2, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_tensor("images", images, ndim=4, finite=False)
        if tuple(images.shape[1:]) != (1, 8, 8):
            raise ValueError(f"images must have shape (n, 1, 8, 8), got {tuple(images.shape)}")
        return self.body(images).view(-1)
