"""Data: the 2-D benchmark mixtures and the 8x8 digits."""

import math

import pytest
import torch

from genlab.data import (
    grid_centers, load_digits, ring_centers, sample_grid, sample_ring, to_unit_range, toy_dataset,
)


def test_ring_has_eight_modes_on_the_unit_circle():
    centers = ring_centers()
    assert centers.shape == (8, 2)
    torch.testing.assert_close(centers.norm(dim=1), torch.ones(8))
    gaps = torch.cdist(centers, centers) + 10 * torch.eye(8)
    torch.testing.assert_close(gaps.min(), torch.tensor(2 * math.sin(math.pi / 8)))


def test_grid_is_the_benchmark_grid():
    centers = grid_centers()
    assert centers.shape == (25, 2)
    assert sorted(set(centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert len({tuple(c) for c in centers.tolist()}) == 25


def test_samples_lie_around_their_modes_with_the_stated_std():
    g = torch.Generator().manual_seed(0)
    for sample, centers, std in [(sample_ring, ring_centers(), 0.01), (sample_grid, grid_centers(), 0.05)]:
        x = sample(20000, generator=g)
        nearest = torch.cdist(x, centers).argmin(dim=1)
        residual = x - centers[nearest]
        assert abs(residual.std().item() - std) < 0.05 * std
        counts = torch.bincount(nearest, minlength=len(centers)).float()
        assert counts.min() > 0.8 * counts.mean()  # equal weights


def test_mixtures_are_configurable_and_validate():
    assert ring_centers(n_modes=5, radius=2.0).norm(dim=1).allclose(torch.full((5,), 2.0))
    assert grid_centers(n_per_side=3, spacing=1.0).abs().max() == 1.0
    with pytest.raises(ValueError, match="std"):
        sample_ring(10, std=-0.1)
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample_grid(0)
    with pytest.raises(ValueError, match="name"):
        toy_dataset("moons")
    centers, std = toy_dataset("grid")
    assert centers.shape == (25, 2) and std == 0.05


def test_digits_are_scaled_to_minus_one_one_with_a_fixed_split():
    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.long
    assert x_train.min() == -1.0 and x_train.max() == 1.0
    assert torch.equal(load_digits("test")[0], x_test)  # the split never changes
    assert set(y_test.tolist()) == set(range(10))
    # train and test are disjoint and together make up the whole set
    x_all, _ = load_digits("all")
    assert len(x_all) == 1797
    flat = {tuple(r) for r in x_train.view(len(x_train), -1).tolist()}
    overlap = sum(tuple(r) in flat for r in x_test.view(len(x_test), -1).tolist())
    assert overlap < 5  # scikit-learn's set holds a few duplicate images
    assert load_digits("train", flatten=True)[0].shape == (1437, 64)
    with pytest.raises(ValueError, match="split"):
        load_digits("valid")


def test_to_unit_range_inverts_the_scaling():
    from sklearn.datasets import load_digits as sk_load

    x, _ = load_digits("all")
    torch.testing.assert_close(to_unit_range(x).view(len(x), -1) * 16,
                               torch.tensor(sk_load().data, dtype=torch.float32))
