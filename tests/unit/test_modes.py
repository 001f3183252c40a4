"""Mode coverage (VEEGAN's definitions) on hand-made point sets."""

import math

import pytest
import torch

from genlab.data.toy2d import grid_centers, ring_centers, sample_grid, sample_ring
from genlab.metrics.modes import mode_coverage, perfect_high_quality_share


def test_samples_on_every_center_cover_all_modes_with_full_quality():
    centers = ring_centers()
    result = mode_coverage(centers.repeat(3, 1), centers, std=0.01)
    assert result.modes_covered == 8 and result.n_modes == 8
    assert result.high_quality == 1.0
    assert result.counts.tolist() == [3] * 8


def test_quality_radius_is_n_std_standard_deviations():
    centers = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    inside = torch.tensor([[0.0, 0.29]])   # 2.9 std from mode 0
    outside = torch.tensor([[0.0, 0.31]])  # 3.1 std
    samples = torch.cat([inside, outside, outside])
    result = mode_coverage(samples, centers, std=0.1)
    assert result.high_quality == pytest.approx(1 / 3)
    assert result.modes_covered == 1
    assert mode_coverage(samples, centers, std=0.1, n_std=4.0).high_quality == 1.0


def test_a_mode_near_only_low_quality_samples_is_not_covered():
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    samples = torch.tensor([[0.0, 0.0], [0.7, 0.0], [0.8, 0.1]])  # nearest to mode 1, too far
    result = mode_coverage(samples, centers, std=0.05)
    assert result.modes_covered == 1
    assert result.counts.tolist() == [1, 0]


def test_collapsed_samples_cover_one_mode():
    centers = grid_centers()
    samples = centers[7] + 0.01 * torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    result = mode_coverage(samples, centers, std=0.05)
    assert result.modes_covered == 1 and result.high_quality == 1.0
    assert int(result.counts.argmax()) == 7


@pytest.mark.parametrize("sampler,centers,std", [
    (sample_ring, ring_centers(), 0.01),
    (sample_grid, grid_centers(), 0.05),
])
def test_true_mixture_scores_the_rayleigh_share(sampler, centers, std):
    samples = sampler(40000, generator=torch.Generator().manual_seed(1))
    result = mode_coverage(samples, centers, std=std)
    assert result.modes_covered == len(centers)
    expected = 1 - math.exp(-4.5)  # P(Rayleigh(1) <= 3)
    assert perfect_high_quality_share() == pytest.approx(expected)
    # 40000 samples: binomial std of the share is about 0.0005
    assert result.high_quality == pytest.approx(expected, abs=0.003)


def test_metric_is_independent_of_dtype_and_device_placement():
    centers = ring_centers()
    samples = sample_ring(300, generator=torch.Generator().manual_seed(2))
    a = mode_coverage(samples, centers, 0.01)
    b = mode_coverage(samples.double(), centers.double(), 0.01)
    assert a.modes_covered == b.modes_covered and a.high_quality == b.high_quality


@pytest.mark.parametrize("samples,centers,std,match", [
    (torch.zeros(5), ring_centers(), 0.01, "samples"),
    (torch.zeros(5, 3), ring_centers(), 0.01, "columns"),
    (torch.zeros(5, 2, dtype=torch.int64), ring_centers(), 0.01, "samples"),
    (torch.full((2, 2), float("nan")), ring_centers(), 0.01, "samples"),
    (torch.zeros(0, 2), ring_centers(), 0.01, "samples"),
    (torch.zeros(5, 2), torch.zeros(0, 2), 0.01, "centers"),
    (torch.zeros(5, 2), ring_centers(), 0.0, "std"),
])
def test_bad_input_raises_value_error_naming_the_argument(samples, centers, std, match):
    with pytest.raises(ValueError, match=match):
        mode_coverage(samples, centers, std)


def test_mode_spread_of_true_mixtures_is_the_closed_form():
    from genlab.data.toy2d import grid_centers, sample_grid
    from genlab.metrics.modes import mode_spread, perfect_mode_spread

    torch.manual_seed(0)
    spread = mode_spread(sample_grid(40_000), grid_centers(), 0.05)
    assert abs(spread - perfect_mode_spread()) < 0.01
    assert abs(perfect_mode_spread() - 0.9744) < 1e-3
    # without truncation (a huge radius) it is the plain std ratio, 1
    assert abs(mode_spread(sample_grid(40_000), grid_centers(), 0.05, n_std=19.0) - 1) < 0.01
    assert abs(perfect_mode_spread(19.0) - 1) < 1e-9


def test_mode_spread_measures_shrunken_and_point_modes():
    from genlab.metrics.modes import mode_spread

    centers = torch.tensor([[0.0, 0.0], [5.0, 5.0]])
    torch.manual_seed(1)
    narrow = centers[torch.arange(20_000) % 2] + 0.02 * torch.randn(20_000, 2)
    assert abs(mode_spread(narrow, centers, std=0.04) - 0.5) < 0.01
    assert mode_spread(centers.repeat(4, 1), centers, std=0.1) == 0.0
    assert math.isnan(mode_spread(torch.full((3, 2), 2.5), centers, std=0.1))
    with pytest.raises(ValueError, match="std"):
        mode_spread(narrow, centers, std=0.0)
