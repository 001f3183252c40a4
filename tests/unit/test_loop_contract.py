"""Every training loop of genlab keeps the one contract of ``genlab.train.loop``.

Each loop runs a few steps on tiny networks with a callback that records its calls; the
same run is then stopped through ``state.stop``, interrupted by a simulated Ctrl-C
(a callback raising ``KeyboardInterrupt``) and poisoned with a NaN (a callback that
writes NaN into a weight after step 1). Every loop must answer the same way: the same
call pattern, steps counted from 1, the same meta keys, the same DivergenceError message.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from genlab.train.history import DivergenceError
from genlab.train.loop import META_KEYS, Callback

STEPS = 3


def _digits(n=16):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


# --- one tiny run per loop: run(callbacks) -> History ---------------------------------------

def run_train_gan(callbacks):
    from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator
    from genlab.train.gan import GANConfig, train_gan

    return train_gan(GANConfig(steps=STEPS, batch_size=8, n_snapshot=4, ema_decay=0.9,
                               lr_decay=True), lambda n: torch.randn(n, 2),
                     MLPGenerator(hidden=8), MLPDiscriminator(hidden=8), callbacks=callbacks)


def run_train_gan_2d(callbacks):
    from genlab.train.gan import train_gan_2d

    return train_gan_2d("ring", "wgan-gp", steps=STEPS, batch_size=8, hidden=8, n_critic=2,
                        n_snapshot=4, device="cpu", callback=callbacks).history


def run_train_gan_2d_many(callbacks):
    from genlab.train.gan_gallery import train_gan_2d_many

    runs = train_gan_2d_many([("ring", "nonsaturating"), ("grid", "wgan")], steps=STEPS,
                             batch_size=8, hidden=8, n_snapshot=4, device="cpu",
                             callback=callbacks)
    histories = [run.history for run in runs.values()]
    assert all(h.meta["steps_done"] == histories[0].meta["steps_done"] for h in histories)
    return histories[0]


def run_train_gan_digits(callbacks):
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.train.gan_digits import train_gan_digits

    return train_gan_digits(DigitsGenerator(width=4), DigitsDiscriminator(width=4), STEPS,
                            images=_digits(), batch_size=4, callback=callbacks)


def run_train_vae(callbacks):
    from genlab.models.vae import DigitsVAE
    from genlab.train.vae import train_vae

    return train_vae(DigitsVAE(hidden=8, likelihood="gaussian"), _digits(), steps=STEPS,
                     batch_size=4, kl_warmup_steps=2, callback=callbacks)


def run_train_diffusion(callbacks):
    from genlab.losses.diffusion import alphas_cumprod_from_betas, linear_beta_schedule
    from genlab.models.unet import SmallUNet
    from genlab.train.diffusion import train_diffusion

    abar = alphas_cumprod_from_betas(linear_beta_schedule(20, 1e-3, 0.2))
    return train_diffusion(SmallUNet(base_channels=8), _digits(), alphas_cumprod=abar,
                           steps=STEPS, batch_size=4, callback=callbacks)


def run_train_denoiser(callbacks):
    from genlab.toys.optimizers import train_denoiser

    return train_denoiser(steps=STEPS, batch_size=8, callback=callbacks)


def run_train_regression(callbacks):
    from genlab.toys.optimizers import train_regression

    return train_regression(steps=STEPS, eval_every=2, callback=callbacks)


def run_finetune(callbacks):
    pytest.importorskip("accelerate")
    from genlab.finetune.loop import TrainConfig, finetune

    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    batches = [(x, x.sum(1, keepdim=True))]
    model = nn.Linear(2, 1)
    return finetune(model, lambda m, b: ((m(b[0]) - b[1]) ** 2).mean(), batches,
                    TrainConfig(steps=STEPS, lr=1e-2, cpu=True), callbacks=callbacks)


def run_train_digits_t2i(callbacks):
    pytest.importorskip("diffusers")
    from genlab.recipes.digits_t2i import train_digits_t2i

    return train_digits_t2i({"batch_size": 4}, steps=STEPS, callback=callbacks).history


LOOPS = [run_train_gan, run_train_gan_2d, run_train_gan_2d_many, run_train_gan_digits,
         run_train_vae, run_train_diffusion, run_train_denoiser, run_train_regression,
         run_finetune, run_train_digits_t2i]
ids = [loop.__name__.removeprefix("run_") for loop in LOOPS]


# --- callbacks ------------------------------------------------------------------------------

class Recorder(Callback):
    """Records ``(hook, state.step)`` of every call."""

    def __init__(self):
        self.calls = []

    def on_train_begin(self, state):
        self.calls.append(("begin", state.step))

    def on_step_end(self, state):
        self.calls.append(("step", state.step))

    def on_train_end(self, state):
        self.calls.append(("end", state.step))


class At(Callback):
    """At the end of step ``step``: ``action(state)``."""

    def __init__(self, step, action):
        self.step, self.action = step, action

    def on_step_end(self, state):
        if state.step == self.step:
            self.action(state)


def _press_ctrl_c(state):
    raise KeyboardInterrupt


def _stop(state):
    state.stop = True


def _first_weight(obj):
    if isinstance(obj, nn.Module):
        return next(obj.parameters())
    if isinstance(obj, torch.optim.Optimizer):
        return obj.param_groups[0]["params"][0]
    return obj[0][0]  # stacked weights: per layer (W, b)


def _poison(state):
    """Write NaN into a weight: the next step's outputs or loss become NaN."""
    if state.models:
        target = state.models.get("discriminator", next(iter(state.models.values())))
    else:
        target = state.model if state.model is not None else state.optimizer
    with torch.no_grad():
        _first_weight(target).fill_(float("nan"))


# --- the contract ---------------------------------------------------------------------------

@pytest.mark.parametrize("run", LOOPS, ids=ids)
def test_a_full_run_calls_back_in_the_same_pattern_and_counts_steps_from_one(run):
    recorder, plain = Recorder(), []
    history = run([recorder, lambda step, hist: plain.append((step, hist))])
    assert recorder.calls == [("begin", 0), *[("step", s) for s in range(1, STEPS + 1)],
                              ("end", STEPS)]
    assert [s for s, _ in plain] == list(range(1, STEPS + 1))
    assert all(hist is history for _, hist in plain)  # a function gets (step, history)
    assert set(META_KEYS) <= set(history.meta)
    assert history.meta["steps_done"] == STEPS and history.meta["interrupted"] is False
    assert history.meta["wall_seconds"] >= 0 and history.meta["cpu_seconds"] >= 0
    logged = sorted({s for steps in history.steps.values() for s in steps})
    assert logged[0] == 1 and logged[-1] == STEPS


@pytest.mark.parametrize("run", LOOPS, ids=ids)
def test_a_callback_stops_the_run_through_the_state_flag(run):
    recorder = Recorder()
    history = run([recorder, At(2, _stop)])
    assert recorder.calls == [("begin", 0), ("step", 1), ("step", 2), ("end", 2)]
    assert history.meta["steps_done"] == 2 and history.meta["interrupted"] is False


@pytest.mark.parametrize("run", LOOPS, ids=ids)
def test_ctrl_c_returns_the_history_marked_interrupted(run, capsys):
    recorder = Recorder()
    history = run([recorder, At(2, _press_ctrl_c)])
    assert f"Interrupted: stopped after 2 of {STEPS} steps" in capsys.readouterr().out
    assert recorder.calls == [("begin", 0), ("step", 1), ("step", 2), ("end", 2)]
    assert history.meta["interrupted"] is True and history.meta["steps_done"] == 2
    assert set(META_KEYS) <= set(history.meta)
    assert max(s for steps in history.steps.values() for s in steps) == 2


@pytest.mark.parametrize("run", LOOPS, ids=ids)
def test_a_nan_stops_the_run_before_its_update_with_one_message(run):
    recorder = Recorder()
    with pytest.raises(DivergenceError) as info:
        run([recorder, At(1, _poison)])
    assert re.fullmatch(r"\w+ became nan at step 2; the run was stopped\. The error's "
                        r"\.history keeps the 1 step recorded so far\. Try a lower learning "
                        r"rate or gradient clipping\.", str(info.value)), str(info.value)
    history = info.value.history
    assert history.meta["steps_done"] == 1 and set(META_KEYS) <= set(history.meta)
    assert max(s for steps in history.steps.values() for s in steps) == 1
    assert recorder.calls == [("begin", 0), ("step", 1)]  # no on_train_end after an error
