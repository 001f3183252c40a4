"""Frechet distance, FID and IS against closed forms, scipy and torchmetrics."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from genlab.metrics.fid import (
    fid,
    fid_from_features,
    frechet_distance,
    gaussian_stats,
    real_vs_real_floor,
)
from genlab.metrics.inception_score import (
    digits_class_probs,
    digits_inception_score,
    inception_score,
)

# torchmetrics' InceptionScore warns that it buffers features, and about std of one split.
pytestmark = pytest.mark.filterwarnings("ignore:Metric `InceptionScore`:UserWarning",
                                        "ignore:std\\(\\):UserWarning")


def random_covariance(d: int, seed: int, rank: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, rank or d, generator=g, dtype=torch.float64)
    return a @ a.T / d


def test_frechet_distance_of_isotropic_gaussians_matches_closed_form():
    d = 7
    m1, m2 = torch.full((d,), 0.5, dtype=torch.float64), torch.full((d,), -1.0, dtype=torch.float64)
    s1, s2 = 0.3, 2.0
    expected = float((m1 - m2).square().sum()) + d * (s1 - s2) ** 2
    got = frechet_distance(m1, s1**2 * torch.eye(d, dtype=torch.float64),
                           m2, s2**2 * torch.eye(d, dtype=torch.float64))
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_one_dimensional_gaussians_is_mean_and_std_gaps_squared():
    got = frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]),
                           torch.tensor([-2.0]), torch.tensor([[9.0]]))
    assert got == pytest.approx(3.0**2 + (2.0 - 3.0) ** 2, rel=1e-6)


def test_frechet_distance_matches_scipy_sqrtm_formula():
    from scipy import linalg

    d = 12
    s1, s2 = random_covariance(d, 1), random_covariance(d, 2)
    g = torch.Generator().manual_seed(3)
    m1, m2 = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    covmean = linalg.sqrtm(s1.numpy() @ s2.numpy()).real
    expected = float((m1 - m2).square().sum() + s1.trace() + s2.trace()) - 2 * covmean.trace()
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_is_symmetric_and_zero_for_identical_gaussians_even_when_singular():
    d = 10
    s1, s2 = random_covariance(d, 4, rank=3), random_covariance(d, 5)
    m1, m2 = torch.zeros(d), torch.ones(d)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(frechet_distance(m2, s2, m1, s1), rel=1e-8)


def test_frechet_distance_rejects_mismatched_sizes_and_asymmetric_covariances():
    eye = torch.eye(3)
    with pytest.raises(ValueError, match="mu1 and mu2"):
        frechet_distance(torch.zeros(3), eye, torch.zeros(4), torch.eye(4))
    with pytest.raises(ValueError, match="sigma2"):
        frechet_distance(torch.zeros(3), eye, torch.zeros(3), torch.eye(4))
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.tensor([float("nan")]), torch.eye(1), torch.zeros(1), torch.eye(1))


def test_gaussian_stats_match_torch_cov_and_need_two_samples():
    x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    mean, cov = gaussian_stats(x)
    torch.testing.assert_close(mean, x.double().mean(0))
    torch.testing.assert_close(cov, torch.cov(x.double().T))
    with pytest.raises(ValueError, match="at least 2 samples"):
        gaussian_stats(x[:1])


def test_fid_from_features_rejects_different_feature_sizes_and_non_finite_features():
    a = torch.randn(20, 4)
    with pytest.raises(ValueError, match="same feature size"):
        fid_from_features(a, torch.randn(20, 5))
    bad = a.clone()
    bad[3, 1] = float("inf")
    with pytest.raises(ValueError, match="fake_features contains NaN or infinite"):
        fid_from_features(a, bad)


def test_fid_from_features_matches_torchmetrics_on_random_features():
    from torchmetrics.image.fid import _compute_fid

    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, generator=g, dtype=torch.float64)
    fake = 0.7 * torch.randn(200, 8, generator=g, dtype=torch.float64) + 0.3
    (m1, s1), (m2, s2) = gaussian_stats(real), gaussian_stats(fake)
    assert fid_from_features(real, fake) == pytest.approx(float(_compute_fid(m1, s1, m2, s2)), rel=1e-8)


def test_digits_fid_matches_torchmetrics_with_our_network_as_custom_feature_extractor():
    from torchmetrics.image.fid import FrechetInceptionDistance

    from genlab.data import load_digits
    from genlab.models.digits_classifier import PenultimateFeatures
    from genlab.pretrained.digits_features import load_digits_features

    real, _ = load_digits("test")
    fake = (real[:200] + 0.3 * torch.randn(200, 1, 8, 8, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    # A copy: set_dtype converts the feature module too, and ours is a shared cached one.
    network = PenultimateFeatures(copy.deepcopy(load_digits_features()))
    oracle = FrechetInceptionDistance(feature=network, normalize=True, input_img_size=(1, 8, 8))
    oracle.update(real, real=True)
    oracle.update(fake, real=False)
    assert fid(real, fake) == pytest.approx(float(oracle.compute()), rel=1e-4)


def test_digits_fid_orders_real_noisy_and_random_images_and_floor_is_small():
    from genlab.data import load_digits

    real, _ = load_digits("test")
    g = torch.Generator().manual_seed(0)
    floor = real_vs_real_floor()
    noisy = fid("train", (real + 0.5 * torch.randn(real.shape, generator=g)).clamp(-1, 1))
    random = fid("train", torch.rand(360, 1, 8, 8, generator=g) * 2 - 1)
    assert 0 < floor < noisy < random
    assert floor == pytest.approx(fid("train", real))
    assert real_vs_real_floor(100) > floor  # fewer samples, more bias


def test_fid_rejects_images_of_the_wrong_shape_or_with_nan():
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        fid("train", torch.zeros(10, 1, 28, 28))
    bad = torch.zeros(10, 1, 8, 8)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fid("train", bad)


def test_inception_score_bounds_one_and_number_of_classes():
    k = 10
    confident_and_diverse = torch.eye(k).repeat(5, 1)
    assert inception_score(confident_and_diverse).mean == pytest.approx(k)
    one_class = torch.zeros(50, k)
    one_class[:, 3] = 1
    assert inception_score(one_class).mean == pytest.approx(1.0)
    uniform = torch.full((50, k), 1 / k)
    assert inception_score(uniform).mean == pytest.approx(1.0)


def test_inception_score_matches_definition_on_random_probabilities():
    probs = torch.softmax(torch.randn(64, 6, generator=torch.Generator().manual_seed(2)), 1).double()
    marginal = probs.mean(0)
    kl = (probs * (probs.log() - marginal.log())).sum(1)
    assert inception_score(probs).mean == pytest.approx(math.exp(kl.mean()), rel=1e-10)


@pytest.mark.parametrize("splits", [1, 4])
def test_inception_score_matches_torchmetrics_given_logits(splits):
    from torchmetrics.image.inception import InceptionScore

    logits = 3 * torch.randn(200, 10, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    oracle = InceptionScore(feature=torch.nn.Identity(), splits=splits)
    oracle.update(logits)
    torch.manual_seed(7)
    expected_mean, expected_std = oracle.compute()
    torch.manual_seed(7)
    order = torch.randperm(len(logits))  # torchmetrics shuffles before splitting
    got = inception_score(logits[order].softmax(1), splits=splits)
    assert got.mean == pytest.approx(float(expected_mean), rel=1e-8)
    if splits > 1:
        assert got.std == pytest.approx(float(expected_std), rel=1e-6)
    else:
        assert got.std == 0.0


def test_digits_inception_score_matches_torchmetrics_with_our_classifier():
    from torchmetrics.image.inception import InceptionScore

    from genlab.data import load_digits
    from genlab.pretrained.digits_features import load_digits_features

    real, _ = load_digits("test")
    oracle = InceptionScore(feature=load_digits_features(), splits=1)
    oracle.update(real)
    assert digits_inception_score(real).mean == pytest.approx(float(oracle.compute()[0]), rel=1e-5)
    assert 8.5 < digits_inception_score(real).mean <= 10  # real digits: confident and diverse


def test_inception_score_rejects_logits_and_bad_splits():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(torch.rand(10, 3))
    with pytest.raises(ValueError, match="non-negative"):
        inception_score(torch.tensor([[1.5, -0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.full((4, 2), 0.5), splits=5)
    with pytest.raises(TypeError, match="splits"):
        inception_score(torch.full((4, 2), 0.5), splits=2.0)


def test_digits_class_probs_are_probability_rows():
    from genlab.data import load_digits

    images, labels = load_digits("test")
    probs = digits_class_probs(images[:40])
    assert probs.shape == (40, 10)
    torch.testing.assert_close(probs.sum(1), torch.ones(40))
    assert (probs.argmax(1) == labels[:40]).float().mean() >= 0.9
