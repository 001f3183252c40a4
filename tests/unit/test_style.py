"""The bold-italic style of chapter 08: transformation, closed-form moments, score, distance."""

from __future__ import annotations

import pytest
import torch

from genlab.data import load_digits
from genlab.finetune import style as S


def blank(n: int = 1) -> torch.Tensor:
    return torch.full((n, 1, 8, 8), -1.0)


def test_moments_of_a_horizontal_bar_give_its_length_as_width_and_no_slant():
    img = blank()
    img[0, 0, 3, 2:5] = 1.0  # one run of 3 pixels
    m = S.image_moments(img)
    assert m["width"].item() == pytest.approx(3.0, abs=1e-12)
    assert m["ink"].item() == pytest.approx(3 / 64, abs=1e-12)
    # all ink on one row: mu02 = 0, slant undefined -> reported as 0
    assert m["slant"].item() == 0.0


def test_width_counts_runs_that_touch_the_border_as_full_runs():
    img = blank()
    img[0, 0, :, 0:2] = 1.0  # a vertical bar 2 pixels wide at the left border
    assert S.image_moments(img)["width"].item() == pytest.approx(2.0, abs=1e-12)


def test_slant_of_a_diagonal_line_is_its_horizontal_shift_per_row():
    # Pixel (row y, column x = 7 - y): the line rises to the right, one column per row.
    img = blank()
    for y in range(8):
        img[0, 0, y, 7 - y] = 1.0
    assert S.image_moments(img)["slant"].item() == pytest.approx(1.0, abs=1e-12)
    # Its mirror leans left.
    assert S.image_moments(img.flip(-1))["slant"].item() == pytest.approx(-1.0, abs=1e-12)


def test_stylize_shears_by_the_stated_amount_on_real_digits():
    # A shear x -> x + s (3.5 - y) adds s to -mu11/mu02 exactly in the continuum; bilinear
    # resampling on an 8x8 grid and cropping at the border blur that, so compare the
    # mean shift over the test split with a 0.05 tolerance (s = 0.3).
    images, _ = load_digits("test")
    before = S.image_moments(images)["slant"].mean()
    after = S.image_moments(S.stylize(images, thicken=False))["slant"].mean()
    assert after - before == pytest.approx(S.SHEAR, abs=0.05)


def test_stylize_keeps_shape_range_and_background():
    images, _ = load_digits("test")
    out = S.stylize(images[:20])
    assert out.shape == (20, 1, 8, 8)
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(S.stylize(blank(3)), blank(3))  # no ink stays no ink
    # Thickening alone only adds ink.
    thick = S.stylize(images, shear=0.0)
    assert (thick >= images).all() and (thick > images).any()


def test_style_score_is_near_zero_for_digits_and_near_one_for_styled_digits_of_every_class():
    # Calibrated on the train split; checked on the held-out test split, class by class,
    # so the score transfers to digits it was not fitted on. Per-class means wander by
    # about 0.1 (e.g. 8s are wider than average), hence the 0.25 margins.
    images, labels = load_digits("test")
    plain, styled = S.style_score(images), S.style_score(S.stylize(images))
    assert abs(plain.mean().item()) < 0.05 and abs(styled.mean().item() - 1) < 0.05
    for digit in range(10):
        mask = labels == digit
        assert abs(plain[mask].mean().item()) < 0.25, digit
        assert abs(styled[mask].mean().item() - 1) < 0.25, digit
    # Most single images are told apart too.
    assert ((styled > 0.5).float().mean() > 0.95) and ((plain < 0.5).float().mean() > 0.95)


def test_feature_distance_is_zero_to_itself_and_matches_a_brute_force_loop():
    from genlab.metrics.fid import digits_features

    images, _ = load_digits("test")
    a, b = images[:6], images[10:19]
    assert S.feature_distance(b, b) == pytest.approx(0.0, abs=1e-6)
    fa, fb = digits_features(a).double(), digits_features(b).double()
    expected = sum(min(float(((x - y) ** 2).sum().sqrt()) for y in fb) for x in fa) / len(fa)
    assert S.feature_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_styled_digits_are_closer_to_styled_references_of_their_class_than_plain_ones():
    images, labels = load_digits("test")
    fives = images[labels == 5]
    reference, _ = S.styled_digits([5], split="train")
    assert S.feature_distance(S.stylize(fives), reference) < 0.7 * S.feature_distance(fives, reference)


def test_reference_set_holds_a_few_styled_digits_of_the_named_classes():
    images, labels = S.reference_set()
    assert images.shape == (4, 1, 8, 8)
    assert sorted(labels.tolist()) == [3, 3, 7, 7]
    assert S.style_score(images).mean() > 0.7
    again, _ = S.reference_set()
    assert torch.equal(images, again)  # deterministic for a seed
    with pytest.raises(ValueError, match="classes"):
        S.reference_set(classes=(3, 12))


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="images"):
        S.style_score(torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        S.stylize(torch.zeros(2, 1, 16, 16))
    with pytest.raises(TypeError, match="shear"):
        S.stylize(blank(), shear="a lot")
    with pytest.raises(ValueError, match="reference"):
        S.feature_distance(blank(), torch.zeros(0, 1, 8, 8))


def test_personalization_measures_report_every_measure_and_zero_drift_against_itself():
    from genlab.finetune.dreambooth import instance_prompt
    from genlab.pretrained.digits_t2i import random_digits_t2i

    parts = random_digits_t2i(seed=0)
    kwargs = dict(n_per_digit=2, num_inference_steps=2)
    measures, samples = S.personalization_measures(parts, instance_prompt, **kwargs)
    assert samples["subject"].shape == samples["plain"].shape == (20, 1, 8, 8)
    assert samples["digits"].tolist() == [d for d in range(10) for _ in range(2)]
    expected = {"style_seen", "style_unseen", "dist_seen", "dist_unseen", "dist_reference",
                "subject_accuracy", "plain_accuracy", "plain_style", "plain_style_seen",
                "spread_subject", "spread_plain", "fid_subject", "fid_plain"}
    assert set(measures) == expected
    assert all(isinstance(v, float) and v == v for v in measures.values())
    # Sampling is seeded: the same model against its own samples has not moved at all.
    again, _ = S.personalization_measures(parts, instance_prompt, baseline=samples, **kwargs)
    assert again["class_drift"] == pytest.approx(0.0, abs=1e-9)
    assert again["plain_drift"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(TypeError, match="subject_prompt"):
        S.personalization_measures(parts, "a sks digit", **kwargs)
