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


def nearest_mode(samples: torch.Tensor, centers: torch.Tensor, std: float = 1.0,
                 n_std: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance ``(n,)`` (float64, CPU) and index ``(n,)`` of each sample's nearest center.

    samples ``(n, d)``, centers ``(k, d)``; ``std`` and ``n_std`` are only checked here
    (the callers compare the distance with ``n_std * std``)."""
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
    dist = torch.cdist(samples.detach().double().cpu(), centers.detach().double().cpu())
    return dist.min(dim=1)


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float,
                  n_std: float = 3.0) -> ModeCoverage:
    """Count covered modes and the high-quality share of ``samples``.

    samples: ``(n, d)``; centers: ``(k, d)`` mode centers; std: the modes' standard
    deviation (same units as the samples); n_std: the quality radius in std (VEEGAN: 3).
    Distances are Euclidean. Returns a :class:`ModeCoverage`.
    """
    nearest_dist, nearest = nearest_mode(samples, centers, std, n_std)
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


def mode_spread(samples: torch.Tensor, centers: torch.Tensor, std: float,
                n_std: float = 3.0) -> float:
    """How wide the generated modes are, in units of the true std (a diversity check).

    Root-mean-square offset per coordinate of the high-quality samples (within ``n_std``
    std of their nearest center) from that center, divided by ``std``:
    ``sqrt(mean ||x - c||^2 / d) / std``. High quality rewards samples *narrower* than the
    data (a generator that emits the centers scores 100%), so read it beside this number:
    a perfect sampler of 2-D Gaussians scores :func:`perfect_mode_spread` (0.974 for 3 std),
    a generator that shrinks its modes scores less. ``nan`` if no sample is high quality.
    """
    nearest_dist, _ = nearest_mode(samples, centers, std, n_std)
    good = nearest_dist[nearest_dist <= n_std * std]
    if len(good) == 0:
        return float("nan")
    return float(good.pow(2).mean().div(centers.shape[1]).sqrt() / std)


def perfect_mode_spread(n_std: float = 3.0) -> float:
    """:func:`mode_spread` of a perfect sampler of isotropic 2-D Gaussians.

    ``r^2 / std^2`` is exponential with mean 2, so with ``a = n_std**2``:
    ``E[r^2 | r^2 < a] = 2 - a exp(-a/2) / (1 - exp(-a/2))``; the spread is the square root
    of half of it (0.974 for 3 std).
    """
    check_positive("n_std", n_std)
    a = n_std**2
    tail = math.exp(-a / 2)
    return math.sqrt((2 - a * tail / (1 - tail)) / 2)
