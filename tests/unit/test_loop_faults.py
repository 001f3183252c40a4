"""Every training loop survives Ctrl-C, guards every step against NaN, and shows progress.

Ctrl-C is simulated by raising ``KeyboardInterrupt`` from the loop's callback, its data
function or its model; a NaN is injected at a step the loop does not log. The contract
(``genlab.train.loop``): steps count from 1; the loop returns its History so far with
``meta["interrupted"] = True``; a non-finite loss raises ``DivergenceError`` before the
update of that step is applied. (tests/unit/test_loop_contract.py checks the same
behaviour across every loop at once.)
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.train.history import DivergenceError, History


class Interrupt:
    """A callback that presses Ctrl-C on its ``at``-th call (1-based)."""

    def __init__(self, at: int):
        self.at, self.calls = at, 0

    def __call__(self, *args):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt


def _digits(n=16):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _abar(T=20):
    from genlab.losses.diffusion import alphas_cumprod_from_betas, linear_beta_schedule

    return alphas_cumprod_from_betas(linear_beta_schedule(T, 1e-3, 0.2))


def _mlp_gan():
    from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator

    return MLPGenerator(hidden=8), MLPDiscriminator(hidden=8)


# --- Ctrl-C ------------------------------------------------------------------------------

def test_train_gan_returns_the_history_on_ctrl_c_in_the_callback():
    from genlab.train.gan import GANConfig, train_gan

    g, d = _mlp_gan()
    history = train_gan(GANConfig(steps=50, batch_size=8, n_snapshot=10),
                        lambda n: torch.randn(n, 2), g, d, callbacks=Interrupt(at=4))
    assert history.meta["interrupted"] is True
    assert history.steps["g_loss"] == [1, 2, 3, 4]
    assert history.snapshots[-1][0] == 4  # the samples of where it stopped


def test_train_gan_returns_the_history_on_ctrl_c_in_the_data_function():
    from genlab.train.gan import GANConfig, train_gan

    calls = {"n": 0}

    def sample_real(n):
        calls["n"] += 1
        if calls["n"] == 6:  # the 6th real batch: step 6 with n_critic=1
            raise KeyboardInterrupt
        return torch.randn(n, 2)

    g, d = _mlp_gan()
    history = train_gan(GANConfig(steps=50, batch_size=8, n_snapshot=10), sample_real, g, d)
    assert history.meta["interrupted"] and history.steps["d_loss"] == [1, 2, 3, 4, 5]
    assert all(p.requires_grad for p in d.parameters())  # D is not left frozen


def test_train_gan_2d_returns_its_run_on_ctrl_c():
    from genlab.train.gan import train_gan_2d

    run = train_gan_2d("ring", steps=40, batch_size=8, hidden=8, n_snapshot=10,
                       callback=Interrupt(at=2), device="cpu")
    assert run.history.meta["interrupted"] and len(run.history["g_loss"]) == 2


def test_train_gan_digits_returns_the_history_on_ctrl_c():
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.train.gan_digits import train_gan_digits

    history = train_gan_digits(DigitsGenerator(width=4), DigitsDiscriminator(width=4), 30,
                               images=_digits(), batch_size=4, callback=Interrupt(at=3))
    assert history.meta["interrupted"] and history.steps["d_loss"] == [1, 2, 3]
    assert history.meta["train_seconds"] > 0


def test_train_vae_returns_the_history_on_ctrl_c():
    from genlab.models.vae import DigitsVAE
    from genlab.train.vae import train_vae

    model = DigitsVAE(hidden=8, likelihood="gaussian")
    history = train_vae(model, _digits(), steps=30, batch_size=4, callback=Interrupt(at=5))
    assert history.meta["interrupted"] and history.steps["loss"] == [1, 2, 3, 4, 5]
    assert not model.training  # finished as a full run does


def test_train_diffusion_copies_the_ema_weights_into_the_model_on_ctrl_c():
    """The EMA of torch's AveragedModel, recomputed by hand from the raw weights after
    each step: the first update copies, the next ones blend with weight 1 - decay."""
    from genlab.models.unet import SmallUNet
    from genlab.train.diffusion import train_diffusion

    decay = 0.9
    model = SmallUNet(base_channels=8)
    raw = []

    def record_then_interrupt(step, history):
        raw.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        if step == 3:
            raise KeyboardInterrupt

    history = train_diffusion(model, _digits(), alphas_cumprod=_abar(), steps=50, batch_size=4,
                              ema_decay=decay, log_every=10, callback=record_then_interrupt)
    assert history.meta["interrupted"] and history.steps["loss"] == [1]
    expected = raw[0]
    for weights in raw[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * weights[k] for k in expected}
    for name, value in model.state_dict().items():
        # float32 EMA updates done in a different order than torch's lerp: a few ulps
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-6)
    assert not torch.equal(model.state_dict()["conv_in.weight"], raw[-1]["conv_in.weight"])


def test_train_diffusion_stops_on_ctrl_c_in_the_model():
    from genlab.models.unet import SmallUNet
    from genlab.train.diffusion import train_diffusion

    class StopsAtCall(SmallUNet):
        calls = 0

        def forward(self, x, t, labels=None):
            StopsAtCall.calls += 1
            if StopsAtCall.calls == 4:
                raise KeyboardInterrupt
            return super().forward(x, t, labels)

    history = train_diffusion(StopsAtCall(base_channels=8), _digits(), alphas_cumprod=_abar(),
                              steps=50, batch_size=4, ema_decay=None)
    assert history.meta["interrupted"] and history.steps["loss"] == [1, 2, 3]


@pytest.mark.parametrize("name", ["train_denoiser", "train_regression"])
def test_chapter_04_toys_return_the_history_on_ctrl_c(name):
    from genlab.toys import optimizers as optim_toys

    history = getattr(optim_toys, name)(steps=40, callback=Interrupt(at=3))
    assert history.meta["interrupted"] and history.steps["loss"] == [1, 2, 3]


def test_a_full_run_is_not_marked_interrupted():
    from genlab.toys.optimizers import train_regression

    assert train_regression(steps=5, eval_every=5).meta["interrupted"] is False


# --- NaN guard on every step -----------------------------------------------------------

def test_train_diffusion_stops_at_an_unlogged_nan_step_before_the_update():
    from genlab.models.unet import SmallUNet
    from genlab.train.diffusion import train_diffusion

    class NanAtCall(SmallUNet):
        calls = 0

        def forward(self, x, t, labels=None):
            NanAtCall.calls += 1
            out = super().forward(x, t, labels)
            return out * float("nan") if NanAtCall.calls == 4 else out

    model = NanAtCall(base_channels=8)
    with pytest.raises(DivergenceError, match="at step 4") as info:
        train_diffusion(model, _digits(), alphas_cumprod=_abar(), steps=50, batch_size=4,
                        ema_decay=None, log_every=10)
    assert info.value.history.steps["loss"] == [1]  # only step 1 was logged
    assert all(torch.isfinite(p).all() for p in model.parameters())  # NaN step not applied


def test_train_regression_stops_on_nan_weights():
    """A learning rate that turns NaN for the 4th update poisons the weights; the 5th
    update's loss is NaN, and is neither applied nor logged."""
    from genlab.toys.optimizers import train_regression

    def nan_at_step_3(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: float("nan") if step == 3 else 1.0)

    with pytest.raises(DivergenceError, match="loss became nan at step 5") as info:
        train_regression(nan_at_step_3, steps=20, eval_every=5)
    assert len(info.value.history["loss"]) == 4


def test_train_gan_divergence_message_counts_the_steps_it_kept():
    from genlab.models.mlp2d import MLPDiscriminator
    from genlab.train.gan import GANConfig, train_gan

    class NanAfter(MLPDiscriminator):
        calls = 0

        def forward(self, x):
            NanAfter.calls += 1
            out = super().forward(x)
            # 3 calls per step (real, fake, G's fake): the first call of step 10
            return out * float("nan") if NanAfter.calls == 3 * 9 + 1 else out

    g, _ = _mlp_gan()
    with pytest.raises(DivergenceError, match="keeps the 9 steps recorded") as info:
        train_gan(GANConfig(steps=20, batch_size=8), lambda n: torch.randn(n, 2), g,
                  NanAfter(hidden=8))
    assert "at step 10" in str(info.value)
    assert info.value.history.steps["g_loss"][-1] == 9


def test_train_gan_digits_guards_the_step_before_the_update():
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.train.gan_digits import train_gan_digits

    class NanAt(DigitsDiscriminator):
        calls = 0

        def forward(self, images):
            NanAt.calls += 1
            out = super().forward(images)
            return out * float("nan") if NanAt.calls == 3 * 2 + 1 else out

    d = NanAt(width=4)
    # the guard checks D's outputs first, as train_gan's critic_step does
    with pytest.raises(DivergenceError, match="real_out became nan at step 3") as info:
        train_gan_digits(DigitsGenerator(width=4), d, 10, images=_digits(), batch_size=4)
    assert info.value.history.steps["d_loss"] == [1, 2]
    assert all(torch.isfinite(p).all() for p in d.parameters())


def test_train_vae_guards_every_step():
    from genlab.models.vae import DigitsVAE
    from genlab.train.vae import train_vae

    class NanDecoder(DigitsVAE):
        calls = 0

        def decode_unchecked(self, z):
            NanDecoder.calls += 1
            out = super().decode_unchecked(z)
            return out * float("nan") if NanDecoder.calls == 3 else out

    with pytest.raises(DivergenceError, match="at step 3") as info:
        train_vae(NanDecoder(hidden=8, likelihood="gaussian"), _digits(), steps=10, batch_size=4)
    assert info.value.history.steps["loss"] == [1, 2]


def test_history_counts_distinct_steps_across_series():
    history = History()
    history.log(1, d_loss=1.0, g_loss=1.0)
    history.log(2, d_loss=1.0)
    with pytest.raises(DivergenceError, match="keeps the 2 steps"):
        history.check_finite(3, fake_out=math.nan)


# --- progress bars -----------------------------------------------------------------------

def test_progress_is_off_under_pytest_and_nbgrader_and_on_otherwise(monkeypatch):
    from genlab.train.loop import show_progress

    assert show_progress(None) is False  # this is pytest
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert show_progress(None) is True
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert show_progress(None) is False
    assert show_progress(True) is True and show_progress(False) is False
    with pytest.raises(TypeError, match="progress must be True or False"):
        show_progress("yes")


@pytest.mark.parametrize("name, desc", [("train_regression", "regression"),
                                        ("train_denoiser", "denoiser")])
def test_progress_true_draws_a_tqdm_bar(name, desc, capsys):
    from genlab.toys import optimizers as optim_toys

    getattr(optim_toys, name)(steps=3, eval_every=3, progress=True)
    assert desc in capsys.readouterr().err


def test_every_loop_shows_a_bar_when_asked(capsys):
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.models.unet import SmallUNet
    from genlab.models.vae import DigitsVAE
    from genlab.train.diffusion import train_diffusion
    from genlab.train.gan import GANConfig, train_gan
    from genlab.train.gan_digits import train_gan_digits
    from genlab.train.vae import train_vae

    g, d = _mlp_gan()
    train_gan(GANConfig(steps=2, batch_size=4, n_snapshot=4, progress=True),
              lambda n: torch.randn(n, 2), g, d)
    train_gan_digits(DigitsGenerator(width=4), DigitsDiscriminator(width=4), 2,
                     images=_digits(), batch_size=4, progress=True)
    train_vae(DigitsVAE(hidden=8), _digits().sign(), steps=2, batch_size=4, progress=True)
    train_diffusion(SmallUNet(base_channels=8), _digits(), alphas_cumprod=_abar(), steps=2,
                    batch_size=4, progress=True)
    err = capsys.readouterr().err
    for desc in ("GAN (nonsaturating)", "GAN (digits)", "VAE", "diffusion (epsilon)"):
        assert desc in err, desc


def test_callback_must_be_callable():
    from genlab.toys.optimizers import train_regression

    with pytest.raises(TypeError, match="callback must be callable"):
        train_regression(steps=2, callback="plot")


def test_a_list_of_callbacks_is_called_in_order():
    from genlab.toys.optimizers import train_regression

    calls = []
    train_regression(steps=3, eval_every=3,
                     callback=[lambda s, h: calls.append(("a", s)), lambda s, h: calls.append(("b", s))])
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]
    with pytest.raises(TypeError, match=r"callback\[1\] must be callable"):
        train_regression(steps=2, callback=[print, "plot"])
