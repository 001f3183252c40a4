"""Mode coverage of 2-D samples (VEEGAN, Srivastava et al. 2017; chapter 01_gan_losses).

A sample is **high quality** if it lies within ``n_std`` standard deviations (3 in
VEEGAN) of its nearest mode center; a mode is **covered** if it is the nearest mode of
at least one high-quality sample. For an isotropic 2-D Gaussian, a perfect sampler puts
``1 - exp(-n_std**2 / 2)`` of its samples within ``n_std`` std (98.9% for 3 std).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from genlab._checks import check_positive, check_tensor


class ModeCoverage(NamedTuple):
    """``modes_covered`` (int), ``n_modes`` (int), ``high_quality`` (share in [0, 1]),
    ``counts`` (high-quality samples per mode, ``(n_modes,)`` int64)."""

    modes_covered: int
    n_modes: int
    high_quality: float
    counts: torch.Tensor


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float,
                  n_std: float = 3.0) -> ModeCoverage:
    """Count covered modes and the high-quality share of ``samples``.

    samples: ``(n, d)``; centers: ``(k, d)`` mode centers; std: the modes' standard
    deviation (same units as the samples); n_std: the quality radius in std (VEEGAN: 3).
    Distances are Euclidean. Returns a :class:`ModeCoverage`.
    """
    check_tensor("samples", samples, ndim=2)
    check_tensor("centers", centers, ndim=2)
    if samples.shape[0] == 0:
        raise ValueError("samples must hold at least one point, got shape (0, d)")
    if centers.shape[0] == 0:
        raise ValueError("centers must hold at least one mode, got shape (0, d)")
    if samples.shape[1] != centers.shape[1]:
        raise ValueError(
            f"samples and centers must have the same number of columns, got "
            f"{tuple(samples.shape)} and {tuple(centers.shape)}"
        )
    check_positive("std", std)
    check_positive("n_std", n_std)
    samples = samples.detach().double().cpu()
    centers = centers.detach().double().cpu()
    dist = torch.cdist(samples, centers)              # (n, k)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= n_std * std
    counts = torch.bincount(nearest[good], minlength=len(centers))
    return ModeCoverage(
        modes_covered=int((counts > 0).sum()),
        n_modes=len(centers),
        high_quality=float(good.double().mean()),
        counts=counts,
    )


def perfect_high_quality_share(n_std: float = 3.0, dim: int = 2) -> float:
    """Expected high-quality share of a perfect sampler of isotropic Gaussians.

    In 2-D the distance to the center over std is Rayleigh, so the share is
    ``1 - exp(-n_std**2 / 2)`` (0.989 for 3 std). Only ``dim=2`` has this closed form.
    """
    check_positive("n_std", n_std)
    if dim != 2:
        raise ValueError(f"dim must be 2 (the closed form is for the plane), got {dim}")
    return 1.0 - math.exp(-n_std**2 / 2)
