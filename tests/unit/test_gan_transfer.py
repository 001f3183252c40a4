"""Few-shot GAN transfer: FreezeD freezes, early stopping keeps the best step, runs repeat."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from genlab.finetune import gan_transfer as gt
from genlab.metrics.fid import digits_features, fid
from genlab.pretrained.dcgan_digits_0to8 import load_dcgan_digits_0to8
from genlab.pretrained.digits_features import load_digits_features
from genlab.train.history import DivergenceError


@pytest.fixture(scope="module")
def nines():
    return gt.few_shot_nines(20, seed=0)


@pytest.fixture(scope="module")
def evaluator(nines):
    return gt.TransferEvaluator(*nines, n_samples=64)


class ScriptedEvaluator:
    """Returns the given ``fid_nines`` values in turn, so the best step is known in advance."""

    def __init__(self, values, interrupt_at=None):
        self.values = list(values)
        self.calls = 0
        self.interrupt_at = interrupt_at

    def __call__(self, generator):
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return {"fid_nines": value}


def _run(nines, evaluator, **config):
    generator, discriminator = load_dcgan_digits_0to8()
    config = gt.TransferConfig(**{"eval_samples": 64, "progress": False, **config})
    history = gt.transfer_gan(generator, discriminator, *nines, config, evaluator=evaluator)
    return generator, discriminator, history


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# --- data and freezing ------------------------------------------------------------------------

def test_few_shot_nines_split_all_180_nines_into_a_training_set_and_a_held_out_set(nines):
    train, held_out = nines
    assert train.shape == (20, 1, 8, 8) and held_out.shape == (160, 1, 8, 8)
    classes = load_digits_features()(torch.cat([train, held_out])).argmax(1)
    assert (classes == 9).float().mean() > 0.95  # they are real nines
    other_train, _ = gt.few_shot_nines(20, seed=1)
    assert not torch.equal(train, other_train)
    with pytest.raises(ValueError, match="n_train must be <= 178"):
        gt.few_shot_nines(179)


def test_freeze_discriminator_layers_freezes_the_lowest_layers_and_counts_their_parameters():
    _, discriminator = load_dcgan_digits_0to8()
    # conv 1 -> 32, 4x4: 32 * 16 + 32 = 544 parameters (the study's count)
    assert gt.freeze_discriminator_layers(discriminator, 1) == 544
    body = discriminator.body
    assert not body[0].weight.requires_grad and not body[0].bias.requires_grad
    assert body[2].weight.requires_grad and body[5].weight.requires_grad
    _, discriminator = load_dcgan_digits_0to8()
    # plus conv 32 -> 64, 4x4: 64 * 32 * 16 + 64 = 32,832; the 257-parameter head trains
    assert gt.freeze_discriminator_layers(discriminator, 2) == 544 + 32_832
    assert sum(p.numel() for p in discriminator.parameters() if p.requires_grad) == 257
    with pytest.raises(ValueError, match="n_layers must be < 3"):
        gt.freeze_discriminator_layers(discriminator, 3)


def test_freezed_leaves_the_frozen_layer_bit_for_bit_unchanged_and_gradient_free(nines, evaluator):
    _, pretrained_d = load_dcgan_digits_0to8()
    generator, discriminator, history = _run(nines, evaluator, steps=6, eval_every=3,
                                             freeze_d=1, lr=1e-3)
    frozen, trained = discriminator.body[0], discriminator.body[2]
    assert frozen.weight.grad is None and frozen.bias.grad is None
    assert torch.equal(frozen.weight, pretrained_d.body[0].weight)
    assert torch.equal(frozen.bias, pretrained_d.body[0].bias)
    assert trained.weight.grad is not None
    assert not torch.equal(trained.weight, pretrained_d.body[2].weight)
    assert history.meta["frozen_d_parameters"] == 544
    assert history.meta["trainable_d_parameters"] == 33_633 - 544
    assert history.meta["method"] == "FreezeD (1)"


def test_full_fine_tuning_changes_every_discriminator_layer(nines, evaluator):
    _, pretrained_d = load_dcgan_digits_0to8()
    _, discriminator, history = _run(nines, evaluator, steps=3, eval_every=3, lr=1e-3)
    for now, before in zip(discriminator.parameters(), pretrained_d.parameters()):
        assert not torch.equal(now, before)
    assert history.meta["frozen_d_parameters"] == 0 and history.meta["method"] == "full"


# --- early stopping ---------------------------------------------------------------------------

def test_early_stopping_returns_the_weights_of_the_best_evaluated_step(nines):
    # Evaluations at steps 0, 3, 6, 9, 12: the scripted minimum is at step 6.
    scripted = ScriptedEvaluator([50.0, 30.0, 10.0, 20.0, 40.0])
    best_g, _, history = _run(nines, scripted, steps=12, eval_every=3, lr=1e-3)
    assert history.meta["best_step"] == 6 and history.meta["best_fid"] == 10.0
    assert history.steps["fid_nines"] == [0, 3, 6, 9, 12]
    assert history.meta["steps_done"] == 12 and not history.meta["stopped_early"]
    # Evaluation draws its own noise, so stopping a fresh run at step 6 gives the same weights.
    stopped_g, _, _ = _run(nines, ScriptedEvaluator([1.0]), steps=6, eval_every=6, lr=1e-3,
                           restore_best=False)
    assert _same_weights(best_g, stopped_g)
    last_g, _, _ = _run(nines, ScriptedEvaluator([50.0, 30.0, 10.0, 20.0, 40.0]), steps=12,
                        eval_every=3, lr=1e-3, restore_best=False)
    assert not _same_weights(best_g, last_g)


def test_patience_stops_the_run_after_evaluations_without_a_new_minimum(nines):
    scripted = ScriptedEvaluator([50.0, 30.0, 10.0, 20.0, 40.0, 5.0])
    _, _, history = _run(nines, scripted, steps=30, eval_every=3, patience=2)
    assert history.meta["stopped_early"] and history.meta["steps_done"] == 12
    assert history.meta["best_step"] == 6 and scripted.calls == 5


def test_when_fine_tuning_never_helps_the_pretrained_generator_is_kept(nines):
    pretrained_g, _ = load_dcgan_digits_0to8()
    generator, _, history = _run(nines, ScriptedEvaluator([1.0, 2.0, 3.0]), steps=4,
                                 eval_every=2)
    assert history.meta["best_step"] == 0 and _same_weights(generator, pretrained_g)


def test_ctrl_c_keeps_the_record_so_far_and_restores_the_best_generator(nines):
    scripted = ScriptedEvaluator([50.0, 10.0, 30.0], interrupt_at=3)
    generator, _, history = _run(nines, scripted, steps=30, eval_every=3)
    assert history.meta["interrupted"] and history.meta["steps_done"] == 9
    assert history.steps["fid_nines"] == [0, 3, 6] and history.meta["best_step"] == 3
    stopped_g, _, _ = _run(nines, ScriptedEvaluator([1.0]), steps=3, eval_every=3,
                           restore_best=False)
    assert _same_weights(generator, stopped_g)


def test_real_run_records_the_fid_minimum_as_its_best_step(nines, evaluator):
    _, _, history = _run(nines, evaluator, steps=20, eval_every=5, lr=1e-3)
    fids = history["fid_nines"]
    assert history.meta["best_fid"] == min(fids)
    assert history.meta["best_step"] == history.steps["fid_nines"][fids.index(min(fids))]
    assert fids[-1] < fids[0], "20 steps at lr 1e-3 should already move towards nines"
    assert set(history.names()) >= {"d_loss", "g_loss", "fid_nines", "fid_0to8", "share_nine",
                                    "nn_train", "nn_held_out"}
    assert history.meta["train_seconds"] > 0 and history.meta["eval_seconds"] > 0


# --- determinism, divergence, bad input -------------------------------------------------------

def test_the_same_seed_gives_the_same_run_and_another_seed_another(nines, evaluator):
    g1, _, h1 = _run(nines, evaluator, steps=5, eval_every=5, seed=3)
    g2, _, h2 = _run(nines, evaluator, steps=5, eval_every=5, seed=3)
    g3, _, h3 = _run(nines, evaluator, steps=5, eval_every=5, seed=4)
    assert h1.values == h2.values and _same_weights(g1, g2)
    assert h1["d_loss"] != h3["d_loss"] and not _same_weights(g1, g3)


def test_a_diverging_run_stops_with_a_divergence_error_that_keeps_the_history(nines, evaluator):
    generator, discriminator = load_dcgan_digits_0to8()
    with torch.no_grad():
        discriminator.body[5].bias.fill_(float("nan"))
    # the loop's guard sees D's NaN output before it reaches the loss
    with pytest.raises(DivergenceError, match="real_out became nan") as info:
        gt.transfer_gan(generator, discriminator, *nines,
                        gt.TransferConfig(steps=5, progress=False), evaluator=evaluator)
    assert info.value.history is not None


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(steps=0), ValueError, "steps must be >= 1"),
    (dict(lr=-1e-3), ValueError, "lr must be > 0"),
    (dict(batch_size=2.0), TypeError, "batch_size must be an int"),
    (dict(freeze_d=-1), ValueError, "freeze_d must be >= 0"),
    (dict(eval_every=0), ValueError, "eval_every must be >= 1"),
    (dict(eval_samples=1), ValueError, "eval_samples must be >= 2"),
    (dict(patience=0), ValueError, "patience must be >= 1"),
])
def test_bad_settings_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        gt.TransferConfig(**kwargs)


def test_bad_images_or_config_raise_clear_errors(nines, evaluator):
    train, held_out = nines
    generator, discriminator = load_dcgan_digits_0to8()
    with pytest.raises(ValueError, match="images must have 4 dimensions"):
        gt.transfer_gan(generator, discriminator, train.view(20, 64), held_out)
    with pytest.raises(ValueError, match="held_out must have shape .* n >= 2"):
        gt.transfer_gan(generator, discriminator, train, held_out[:1])
    with pytest.raises(TypeError, match="config must be a TransferConfig"):
        gt.transfer_gan(generator, discriminator, train, held_out, {"steps": 3})
    with pytest.raises(ValueError, match="n_layers must be < 3"):
        gt.transfer_gan(generator, discriminator, train, held_out,
                        gt.TransferConfig(freeze_d=3, progress=False), evaluator=evaluator)
    with pytest.raises(TypeError, match="latent_dim"):
        gt.transfer_gan(discriminator, discriminator, train, held_out)


# --- evaluation -------------------------------------------------------------------------------

def test_evaluator_matches_the_metrics_computed_directly(nines, evaluator):
    train, held_out = nines
    generator, _ = load_dcgan_digits_0to8()
    values = evaluator(generator)
    samples = evaluator.samples(generator)
    assert torch.equal(samples, evaluator.samples(generator))  # fixed noise
    # Oracle: genlab.metrics.fid.fid on the images (same float64 formula, same features).
    assert values["fid_nines"] == pytest.approx(fid(held_out, samples), rel=1e-9)
    from genlab.data import load_digits

    test_images, test_labels = load_digits("test")
    assert values["fid_0to8"] == pytest.approx(fid(test_images[test_labels != 9], samples),
                                               rel=1e-9)
    features = digits_features(samples)
    classes = load_digits_features()(samples).argmax(1)
    assert values["share_nine"] == pytest.approx((classes == 9).float().mean().item())
    # Nearest-neighbour distances by a plain double loop (float32 features: 1e-5 relative).
    train_features, held_features = digits_features(train), digits_features(held_out[:20])
    nn_train = torch.stack([min((f - t).norm() for t in train_features) for f in features])
    nn_held = torch.stack([min((f - t).norm() for t in held_features) for f in features])
    assert values["nn_train"] == pytest.approx(nn_train.mean().item(), rel=1e-5)
    assert values["nn_held_out"] == pytest.approx(nn_held.mean().item(), rel=1e-5)


def test_class_histogram_is_the_classifier_share_per_class(nines):
    generator, _ = load_dcgan_digits_0to8()
    shares = gt.class_histogram(generator, n=200, seed=1)
    z = torch.randn(200, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        classes = load_digits_features()(generator(z)).argmax(1)
    expected = torch.tensor([(classes == k).sum().item() / 200 for k in range(10)])
    assert shares.shape == (10,) and torch.allclose(shares, expected)
    assert shares.sum() == pytest.approx(1.0)
    assert shares[9] < 0.15, "the pretrained GAN was trained without nines"


def test_figures_draw_and_reject_empty_or_misshaped_input(nines):
    from genlab.viz import gan_transfer as viz

    history = _run(nines, ScriptedEvaluator([3.0, 1.0]), steps=2, eval_every=1)[2]
    with pytest.raises(ValueError, match="no series"):  # scripted runs log fid_nines only
        viz.plot_transfer_curves({"full": history})
    for name in ("fid_0to8", "nn_train", "nn_held_out"):
        history.values[name], history.steps[name] = [1.0, 2.0, 3.0], [0, 1, 2]
    axes = viz.plot_transfer_curves({"full": history}, floor=1.0)
    assert len(axes[0].lines) == 3  # the curve, the best-step star, the floor
    assert len(viz.plot_memorisation(history).lines) == 2
    ax = viz.plot_class_histograms({"before": torch.full((10,), 0.1), "after": torch.eye(10)[9]})
    assert len(ax.patches) == 20
    with pytest.raises(ValueError, match="at least one run"):
        viz.plot_transfer_curves({})
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        viz.plot_class_histograms({"bad": torch.zeros(9)})
