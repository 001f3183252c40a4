"""2-D Gaussian mixtures used to watch mode collapse.

Benchmark settings follow VEEGAN (Srivastava et al. 2017) and PacGAN: an 8-mode ring
of radius 1 with std 0.01, and a 25-mode grid at {-4, -2, 0, 2, 4}^2 with std 0.05.
"""

from __future__ import annotations

import math

import torch

from genlab._checks import check_int, check_positive, check_tensor


def ring_centers(n_modes: int = 8, radius: float = 1.0) -> torch.Tensor:
    """Mode centers on a circle, shape ``(n_modes, 2)``; the first lies at angle 0."""
    check_int("n_modes", n_modes, minimum=1)
    check_positive("radius", radius)
    angles = torch.arange(n_modes, dtype=torch.float64) * (2 * math.pi / n_modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid_centers(n_per_side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    """Mode centers on a square grid centred at 0, shape ``(n_per_side**2, 2)``.

    The defaults give {-4, -2, 0, 2, 4}^2.
    """
    check_int("n_per_side", n_per_side, minimum=1)
    check_positive("spacing", spacing)
    ticks = (torch.arange(n_per_side, dtype=torch.float32) - (n_per_side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def sample_mixture(
    centers: torch.Tensor, n: int, std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` points from an equal-weight isotropic mixture, shape ``(n, d)``.

    centers: ``(k, d)`` mode centers."""
    check_tensor("centers", centers, ndim=2)
    if len(centers) == 0:
        raise ValueError("centers must hold at least one mode, got shape (0, d)")
    check_int("n", n, minimum=1)
    check_positive("std", std)
    idx = torch.randint(len(centers), (n,), generator=generator)
    noise = torch.randn(n, centers.shape[1], generator=generator)
    return centers[idx] + std * noise


def sample_ring(
    n: int,
    n_modes: int = 8,
    radius: float = 1.0,
    std: float = 0.01,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n`` points from the ring mixture, shape ``(n, 2)``."""
    return sample_mixture(ring_centers(n_modes, radius), n, std, generator)


def sample_grid(
    n: int,
    n_per_side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n`` points from the grid mixture, shape ``(n, 2)``."""
    return sample_mixture(grid_centers(n_per_side, spacing), n, std, generator)


TOY_DATASETS = {
    "ring": {"centers": ring_centers, "sample": sample_ring, "std": 0.01},
    "grid": {"centers": grid_centers, "sample": sample_grid, "std": 0.05},
}


def toy_dataset(name: str) -> tuple[torch.Tensor, float]:
    """``(centers, std)`` of a named benchmark mixture: ``"ring"`` or ``"grid"``."""
    if not isinstance(name, str) or name not in TOY_DATASETS:
        raise ValueError(f"name must be one of {sorted(TOY_DATASETS)}, got {name!r}")
    spec = TOY_DATASETS[name]
    return spec["centers"](), spec["std"]
