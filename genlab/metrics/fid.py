"""Frechet distance between Gaussians, and FID on the 8x8 digits.

FID (Heusel et al., 2017, "GANs trained by a two time-scale update rule converge to a
local Nash equilibrium") fits a Gaussian to the features of real images and one to the
features of generated images and reports the Frechet (2-Wasserstein) distance between
them:

    d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1^{1/2} S_2 S_1^{1/2})^{1/2})

The course's "digits-FID" uses the penultimate layer (32 features) of our small digits
classifier (``genlab.pretrained.digits_features``), not Inception v3's 2048 pool
features. **Digits-FID is not comparable with the Inception FID of papers**: different
network, different feature size, different images. Compare digits-FID values only with
each other, computed with the same number of samples, and read them against
:func:`real_vs_real_floor`, the FID between two halves of the real data (FID is biased
upward for finite samples, so even real data does not reach 0).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from genlab._checks import check_choice, check_images, check_int, check_tensor
from genlab.data import load_digits
from genlab.pretrained.digits_features import load_digits_features


def _as_float64(name: str, x, ndim: int) -> torch.Tensor:
    check_tensor(name, x, ndim=ndim)
    return x.detach().to("cpu", torch.float64)


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    eigenvalues, eigenvectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    # Round-off can make zero eigenvalues slightly negative; they are zero.
    root = eigenvalues.clamp(min=0).sqrt()
    return (eigenvectors * root) @ eigenvectors.T


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor,
                     mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Squared Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    mu1, mu2: means ``(d,)``; sigma1, sigma2: covariances ``(d, d)``, symmetric positive
    semi-definite. Returns a float >= 0 (computed in float64).

    The trace term uses ``Tr((S1 S2)^{1/2}) = Tr((S1^{1/2} S2 S1^{1/2})^{1/2})``: the right
    side is the square root of a symmetric PSD matrix, which an eigendecomposition gives
    stably, whereas ``scipy.linalg.sqrtm(S1 @ S2)`` of a non-symmetric product can return
    small imaginary parts. For two isotropic Gaussians N(m1, s1^2 I), N(m2, s2^2 I) in d
    dimensions it equals ``||m1 - m2||^2 + d (s1 - s2)^2``.
    """
    mu1 = _as_float64("mu1", mu1, 1)
    mu2 = _as_float64("mu2", mu2, 1)
    sigma1 = _as_float64("sigma1", sigma1, 2)
    sigma2 = _as_float64("sigma2", sigma2, 2)
    d = mu1.shape[0]
    if mu2.shape != (d,):
        raise ValueError(f"mu1 and mu2 must have the same size, got {d} and {mu2.shape[0]}")
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (d, d):
            raise ValueError(
                f"{name} must have shape ({d}, {d}) to match the means, got {tuple(sigma.shape)}"
            )
        if not torch.allclose(sigma, sigma.T, rtol=1e-5, atol=1e-8 * float(sigma.abs().max()) + 1e-12):
            raise ValueError(f"{name} must be symmetric (a covariance matrix)")
        eigenvalues = torch.linalg.eigvalsh((sigma + sigma.T) / 2)
        # A covariance has no negative eigenvalue; round-off of one computed in float32
        # can leave about 1e-7 * d of its largest, so 1e-4 of it is tolerated.
        if float(eigenvalues.min()) < -1e-4 * float(eigenvalues.abs().max()) - 1e-12:
            raise ValueError(
                f"{name} must be positive semi-definite (a covariance matrix), got an "
                f"eigenvalue of {float(eigenvalues.min()):.4g}"
            )
    root1 = _sqrt_psd(sigma1)
    middle = root1 @ sigma2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    value = (mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt
    # The exact distance is >= 0; round-off can push identical inputs a hair below.
    return max(float(value), 0.0)


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` (float64) of ``(n, d)`` features.

    Needs n >= 2 (one sample has no covariance). With n <= d the covariance is singular:
    the distance is still defined but noisy; use many more samples than features.
    """
    features = _as_float64("features", features, 2)
    n = features.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples to estimate a covariance, got {n}")
    mean = features.mean(0)
    centered = features - mean
    return mean, centered.T @ centered / (n - 1)


def fid_from_features(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to ``(n, d)`` and ``(m, d)`` features."""
    check_tensor("real_features", real_features, ndim=2)
    check_tensor("fake_features", fake_features, ndim=2)
    if real_features.shape[1] != fake_features.shape[1]:
        raise ValueError(
            "real_features and fake_features must have the same feature size, got "
            f"{real_features.shape[1]} and {fake_features.shape[1]}"
        )
    mu1, sigma1 = gaussian_stats(real_features)
    mu2, sigma2 = gaussian_stats(fake_features)
    return frechet_distance(mu1, sigma1, mu2, sigma2)


@torch.no_grad()
def digits_features(images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Penultimate features ``(n, 32)`` of ``(n, 1, 8, 8)`` images in [-1, 1], on the CPU.

    Uses the shipped, hash-verified ``genlab.pretrained.digits_features`` network.
    Non-finite images (a diverged generator) raise ``ValueError``.
    """
    check_images("images", images)
    check_int("batch_size", batch_size, minimum=1)
    net = load_digits_features()
    images = images.detach().to("cpu", torch.float32)
    return torch.cat([net.features(chunk) for chunk in images.split(batch_size)])


def _real_features(split: str) -> torch.Tensor:
    check_choice("split", split, ("train", "test", "all"))
    return _cached_real_features(split)


@lru_cache(maxsize=4)
def _cached_real_features(split: str) -> torch.Tensor:
    images, _ = load_digits(split)
    return digits_features(images)


def real_stats(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of the digits features of a real split (cached)."""
    return gaussian_stats(_real_features(split))


def fid(real: torch.Tensor | str, fake: torch.Tensor) -> float:
    """Digits-FID between ``real`` and ``fake`` images ``(n, 1, 8, 8)`` in [-1, 1].

    ``real`` may be a split name (``"train"``, ``"test"``, ``"all"``) to use the cached
    features of that split. Lower is better; read it against :func:`real_vs_real_floor`.
    Not comparable with Inception FID (see the module docstring). FID's bias grows as the
    sample count shrinks, so compare values computed with equal numbers of fakes.
    """
    if isinstance(real, str):
        real_features = _real_features(real)
    else:
        real_features = digits_features(real)
    fake_features = digits_features(fake)
    return fid_from_features(real_features, fake_features)


def real_vs_real_floor(n: int | None = None, seed: int = 0) -> float:
    """Digits-FID of the test split (360 real images) against the train split.

    What a perfect generator would score with 360 samples: no model beats it by more
    than noise, so report generated FIDs as multiples of this floor. With ``n``, a random
    subset of ``n`` test images (drawn with ``seed``) is used instead, to match a
    generator evaluated on ``n`` samples (``n`` <= 360).
    """
    test_features = _real_features("test")
    if n is not None:
        check_int("n", n, minimum=2)
        if n > len(test_features):
            raise ValueError(f"n must be <= {len(test_features)} (the test split), got {n}")
        generator = torch.Generator().manual_seed(seed)
        test_features = test_features[torch.randperm(len(test_features), generator=generator)[:n]]
    return fid_from_features(_real_features("train"), test_features)
