"""Periodic evaluation hook, best-checkpoint choice, the digits DCGAN and its loop."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.metrics.fid import fid
from genlab.metrics.inception_score import digits_inception_score
from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
from genlab.train.gan_digits import train_gan_digits
from genlab.train.history import History
from genlab.train.hooks import EvalHook, best_step, generator_sampler


def test_generator_maps_noise_to_digit_shaped_images_in_tanh_range():
    g = DigitsGenerator(latent_dim=5, width=4)
    images = g(torch.randn(7, 5))
    assert images.shape == (7, 1, 8, 8)
    assert images.abs().max() <= 1
    assert DigitsDiscriminator(width=4)(images).shape == (7,)
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        g(torch.randn(7, 6))
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        DigitsDiscriminator(width=4)(torch.zeros(2, 1, 28, 28))


def test_generator_sampler_reuses_its_noise_and_restores_training_mode():
    g = DigitsGenerator(latent_dim=3, width=4).train()
    sample_fn = generator_sampler(g, 3, seed=1)
    first, second = sample_fn(6), sample_fn(6)
    torch.testing.assert_close(first, second)
    assert g.training and not first.requires_grad
    rng = torch.Generator().manual_seed(1)
    torch.testing.assert_close(first, g(torch.randn(6, 3, generator=rng)).detach())


def test_eval_hook_logs_fid_and_is_of_the_samples_every_n_steps_only():
    from genlab.data import load_digits

    images, _ = load_digits("test")
    calls = []

    def sample_fn(n):
        calls.append(n)
        return images[:n]

    history = History()
    hook = EvalHook(every=3, n_samples=100, keep_samples=4)
    for step in range(1, 8):
        history.log(step, g_loss=0.0)
        hook(step, sample_fn, history)
    assert history.steps["fid"] == [3, 6] and calls == [100, 100]
    assert history["fid"][0] == pytest.approx(fid("train", images[:100]))
    assert history["inception_score"][0] == pytest.approx(digits_inception_score(images[:100]).mean)
    assert [s for s, _ in history.snapshots] == [3, 6]
    assert history.snapshots[0][1].shape == (4, 1, 8, 8)
    assert len(history["g_loss"]) == 7  # the losses stay their own series


def test_eval_hook_records_nan_for_a_diverged_generator_and_rejects_wrong_shapes():
    history = History()
    hook = EvalHook(every=1, n_samples=10)
    hook(1, lambda n: torch.full((n, 1, 8, 8), float("nan")), history)
    assert math.isnan(history.last("fid")) and math.isnan(history.last("inception_score"))
    with pytest.raises(ValueError, match=r"\(10, 1, 8, 8\)"):
        hook(2, lambda n: torch.zeros(n, 64), history)
    with pytest.raises(ValueError, match="every"):
        EvalHook(every=0)


def test_best_step_picks_the_lowest_fid_skipping_nan_and_preferring_the_earliest_tie():
    history = History()
    for step, value in [(100, 40.0), (200, float("nan")), (300, 12.5), (400, 12.5), (500, 30.0)]:
        history.log(step, fid=value)
    assert best_step(history) == 300
    assert best_step(history, "fid", mode="max") == 100
    with pytest.raises(KeyError, match="inception_score"):
        best_step(history, "inception_score")
    with pytest.raises(ValueError, match="mode"):
        best_step(history, mode="lowest")
    empty = History()
    empty.log(1, fid=float("nan"))
    with pytest.raises(ValueError, match="no finite values"):
        best_step(empty)


def tiny_gan(seed=0):
    torch.manual_seed(seed)
    return DigitsGenerator(latent_dim=4, width=4), DigitsDiscriminator(width=4)


def test_gan_loop_logs_g_and_d_losses_apart_and_calls_the_callback_every_step():
    from genlab.train.loop import Callback

    class Sample(Callback):  # the loop hands its sampler over as state.sample_fn
        def on_step_end(self, state):
            seen.append((state.step, state.sample_fn(2).shape))

    g, d = tiny_gan()
    seen = []
    history = train_gan_digits(g, d, 5, batch_size=8, callback=Sample())
    assert seen == [(s, (2, 1, 8, 8)) for s in range(1, 6)]
    for name in ("g_loss", "d_loss", "d_real", "d_fake"):
        assert history.steps[name] == [1, 2, 3, 4, 5]
    assert history["g_loss"] != history["d_loss"]
    assert history.meta["train_seconds"] > 0


def test_gan_loop_losses_match_a_hand_computed_first_step():
    import torch.nn.functional as F

    real = torch.zeros(3, 1, 8, 8)  # one image repeated: the batch does not depend on indices
    g, d = tiny_gan(1)
    history = train_gan_digits(g, d, 1, images=real, batch_size=3, seed=5)
    g0, d0 = tiny_gan(1)
    torch.manual_seed(5)
    fake = g0(torch.randn(3, 4))
    expected_d = (F.softplus(-d0(real)).mean() + F.softplus(d0(fake)).mean()).item()
    assert history["d_loss"][0] == pytest.approx(expected_d, rel=1e-5)


def test_gan_loop_is_deterministic_for_a_seed():
    runs = []
    for _ in range(2):
        g, d = tiny_gan(2)
        runs.append(train_gan_digits(g, d, 4, batch_size=8, seed=3)["g_loss"])
    assert runs[0] == runs[1]


def test_gan_loop_with_eval_hook_puts_fid_beside_the_losses():
    g, d = tiny_gan(3)
    history = train_gan_digits(g, d, 4, batch_size=8, callback=EvalHook(every=2, n_samples=50))
    assert history.steps["fid"] == [2, 4]
    assert all(v > 0 for v in history["fid"])
    assert {"g_loss", "d_loss", "fid", "inception_score"} <= set(history.names())


def test_eval_hook_plugs_into_the_gan_chapters_loop_through_on_snapshot():
    from genlab.data import load_digits
    from genlab.train.gan import GANConfig, train_gan

    images, _ = load_digits("train")
    g, d = tiny_gan(4)
    rng = torch.Generator().manual_seed(0)
    hook = EvalHook(every=1)
    history = train_gan(GANConfig(steps=4, batch_size=8, snapshot_every=2, n_snapshot=60),
                        lambda n: images[torch.randint(len(images), (n,), generator=rng)], g, d,
                        on_snapshot=hook.on_samples)
    assert 2 in history.steps["fid"] and 4 in history.steps["fid"]
    assert history["fid"][-1] > 0 and "g_loss" in history and "d_loss" in history
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        hook.on_samples(5, torch.zeros(3, 2), history)
