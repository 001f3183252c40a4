"""genlab.train.gan_gallery.train_gan_2d_many; the oracle is train_gan_2d run by run."""

from __future__ import annotations

import pytest
import torch

from genlab.losses import gan as gan_losses
from genlab.train import DivergenceError
from genlab.train.gan import train_gan_2d
from genlab.train.gan_gallery import train_gan_2d_many

RUNS = [("ring", "nonsaturating"), ("grid", "wgan-gp"), ("ring", "wgan"),
        ("grid", "minimax"), ("ring", "lsgan"), ("grid", "hinge")]
SMALL = dict(steps=5, hidden=16, batch_size=64, g_lr=2e-3, d_lr=2e-3, lr_decay=True,
             n_snapshot=50, device="cpu", progress=False)


def test_every_batched_run_matches_its_train_gan_2d_twin():
    many = train_gan_2d_many(RUNS, **SMALL)
    assert list(many) == RUNS
    for key in RUNS:
        one, batched = train_gan_2d(*key, **SMALL), many[key]
        assert set(one.history.steps) == set(batched.history.steps)  # gp for WGAN-GP only
        # same initial weights and batches: only float32 rounding of batched against
        # single matrix products differs, a few ulps per step of values of order 1
        for name in one.history.steps:
            torch.testing.assert_close(torch.tensor(batched.history[name]),
                                       torch.tensor(one.history[name]), rtol=1e-4, atol=1e-5)
        for net in ("generator", "discriminator"):
            for p, q in zip(getattr(one, net).parameters(), getattr(batched, net).parameters()):
                torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(batched.history.snapshots[-1][1],
                                   one.history.snapshots[-1][1], rtol=1e-4, atol=1e-5)
        assert batched.history.meta["loss"] == key[1]
        assert batched.history.meta["dataset"] == key[0]


def test_only_the_wgan_critic_is_clipped():
    many = train_gan_2d_many([("ring", "wgan"), ("ring", "lsgan")], **dict(SMALL, d_lr=0.5))
    wgan = torch.cat([p.flatten() for p in many["ring", "wgan"].discriminator.parameters()])
    lsgan = torch.cat([p.flatten() for p in many["ring", "lsgan"].discriminator.parameters()])
    assert wgan.abs().max() <= 0.01 + 1e-7
    assert lsgan.abs().max() > 0.1  # a large learning rate moves the unclipped critic far


@pytest.mark.parametrize("runs, message", [
    ([], "non-empty"),
    ([("ring", "nope")], "loss must be one of"),
    ([("moon", "wgan")], "dataset must be one of"),
    ([("ring", "wgan"), ("ring", "wgan")], "duplicate"),
])
def test_bad_runs_are_refused(runs, message):
    with pytest.raises(ValueError, match=message):
        train_gan_2d_many(runs, **SMALL)


def test_a_nan_in_one_run_raises_with_that_runs_history(monkeypatch):
    from genlab.data import toy2d

    def nan_grid(n, generator=None):
        return torch.full((n, 2), float("nan"))

    monkeypatch.setitem(toy2d.TOY_DATASETS["grid"], "sample", nan_grid)
    with pytest.raises(DivergenceError) as info:
        train_gan_2d_many([("ring", "lsgan"), ("grid", "lsgan")], **SMALL)
    assert info.value.history is not None


def test_ctrl_c_returns_every_run_as_trained_so_far(monkeypatch):
    calls = {"n": 0}
    d_fn, g_fn = gan_losses.get_gan_loss("lsgan")

    def interrupting_g(fake_out):
        calls["n"] += 1
        if calls["n"] > 2 * 3:  # two runs: interrupt in step 4
            raise KeyboardInterrupt
        return g_fn(fake_out)

    monkeypatch.setattr("genlab.train.gan_gallery.get_gan_loss", lambda loss: (d_fn, interrupting_g))
    many = train_gan_2d_many([("ring", "lsgan"), ("grid", "lsgan")], **SMALL)
    for run in many.values():
        assert run.history.meta["interrupted"] is True
        assert run.history.steps["g_loss"] == [1, 2, 3]
        assert run.history.snapshots and run.history.snapshots[-1][1].shape == (50, 2)
