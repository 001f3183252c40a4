"""Few-shot GAN transfer's evaluation (chapter 07, section 9): validation and test nines
apart, the real-versus-real floor at equal sample sizes, and where patience would stop."""

from __future__ import annotations

import pytest
import torch

from genlab.finetune import gan_transfer as gt
from genlab.history import History


def test_the_split_is_three_disjoint_sets_and_keeps_the_training_nines():
    train, validation, test = gt.few_shot_split(20, 80, seed=0)
    assert (len(train), len(validation), len(test)) == (20, 80, 80)
    old_train, held_out = gt.few_shot_nines(20, seed=0)
    assert torch.equal(train, old_train)
    torch.testing.assert_close(torch.cat([validation, test]), held_out, rtol=0, atol=0)
    with pytest.raises(ValueError, match="n_validation"):
        gt.few_shot_split(20, 159)


def test_real_floor_matches_a_hand_split_and_is_biased_up_for_few_samples():
    from genlab.metrics.fid import digits_features, fid_from_features

    _, validation, test = gt.few_shot_split(20, 80)
    nines = torch.cat([validation, test])
    floor = gt.real_fid_floor(nines, 30, 40, draws=3, seed=5)
    assert floor.shape == (3,) and (floor > 0).all()
    # draw 0 by hand: the same permutation, FID(reference, sample)
    order = torch.randperm(160, generator=torch.Generator().manual_seed(5))
    f = digits_features(nines)
    expected = fid_from_features(f[order[30:70]], f[order[:30]])
    assert floor[0].item() == pytest.approx(expected, rel=1e-6)
    small = gt.real_fid_floor(nines, 10, 80, draws=10).mean()
    large = gt.real_fid_floor(nines, 80, 80, draws=10).mean()
    assert small > large  # why FIDs compare only at equal sample counts
    with pytest.raises(ValueError, match="n_sample \\+ n_reference"):
        gt.real_fid_floor(nines, 100, 80)


def test_patience_stop_step_reads_the_recorded_validation_curve():
    h = History()
    for step, value in zip([0, 50, 100, 150, 200, 250, 300], [90, 40, 35, 36, 34, 37, 38]):
        h.log(step, fid_nines=value)
    assert gt.patience_stop_step(h, 1) == 150
    assert gt.patience_stop_step(h, 2) == 300
    assert gt.patience_stop_step(h, 3) is None
    with pytest.raises(ValueError, match="patience"):
        gt.patience_stop_step(h, 0)


def test_evaluator_reports_test_fid_apart_from_the_validation_fid():
    from genlab.metrics.fid import digits_features, fid_from_features
    from genlab.pretrained.dcgan_digits_0to8 import load_dcgan_digits_0to8

    train, validation, test = gt.few_shot_split(20, 80)
    G, _ = load_dcgan_digits_0to8("cpu")
    evaluator = gt.TransferEvaluator(train, validation, n_samples=40, test=test)
    values = evaluator(G)
    samples = digits_features(evaluator.samples(G))
    assert values["fid_nines"] == pytest.approx(fid_from_features(digits_features(validation), samples))
    assert values["fid_test"] == pytest.approx(fid_from_features(digits_features(test), samples))
    assert "fid_test" not in gt.TransferEvaluator(train, validation, n_samples=40)(G)
