"""The loops, samplers and metrics on a CUDA device (``pytest -m gpu``; skipped without one).

Run by ``benchmarks/gpu_check.sh`` on a machine with an NVIDIA GPU. Each test is short (a
few steps): it checks that data, noise and EMA weights land on the right device, that
fp16 autocast with a GradScaler trains, and that the NaN guard and Ctrl-C work there too.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.gpu

DEVICE = "cuda"


def _digits(n=32):
    return (torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1)


def _abar(T=50):
    from genlab.losses.diffusion import alphas_cumprod_from_betas, linear_beta_schedule

    return alphas_cumprod_from_betas(linear_beta_schedule(T, 1e-3, 0.2))


def test_get_device_picks_cuda_and_honours_genlab_device(monkeypatch):
    import genlab

    monkeypatch.delenv("GENLAB_DEVICE", raising=False)
    assert genlab.get_device().type == "cuda"
    monkeypatch.setenv("GENLAB_DEVICE", "cuda:0")
    assert genlab.get_device() == torch.device("cuda:0")


def test_train_gan_2d_with_fp16_autocast_and_grad_scaler():
    from genlab.train.gan import train_gan_2d

    run = train_gan_2d("ring", steps=30, hidden=32, batch_size=64, amp=True, device=DEVICE,
                       n_snapshot=16, ema_decay=0.9)
    assert next(run.generator.parameters()).device.type == "cuda"
    assert run.history.meta["amp"] is True and len(run.history["g_loss"]) == 30
    assert all(torch.isfinite(torch.tensor(run.history["d_loss"])))
    assert next(run.ema_generator.parameters()).device.type == "cuda"


def test_train_diffusion_on_cuda_copies_its_ema_on_ctrl_c():
    from genlab.models.unet import SmallUNet
    from genlab.train.diffusion import train_diffusion

    model = SmallUNet(base_channels=8).to(DEVICE)
    calls = {"n": 0}

    def stop(step, history):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt

    history = train_diffusion(model, _digits(), alphas_cumprod=_abar(), steps=20,
                              batch_size=8, callback=stop)
    assert history.meta["interrupted"] and len(history["loss"]) == 3
    assert all(p.device.type == "cuda" and torch.isfinite(p).all() for p in model.parameters())


def test_train_vae_and_evaluate_on_cuda():
    from genlab.losses.vae import binarize
    from genlab.models.vae import DigitsVAE
    from genlab.train.vae import evaluate_vae, train_vae

    vae = DigitsVAE(hidden=16).to(DEVICE)
    images = binarize(_digits())
    history = train_vae(vae, images, steps=5, batch_size=8)
    assert len(history["loss"]) == 5
    assert evaluate_vae(vae, images)["neg_elbo"] > 0


def test_train_gan_digits_with_fid_hook_on_cuda():
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.train.gan_digits import train_gan_digits
    from genlab.train.hooks import EvalHook

    history = train_gan_digits(DigitsGenerator(width=8), DigitsDiscriminator(width=8), 4,
                               images=_digits(), batch_size=8, device=DEVICE,
                               callback=EvalHook(every=2, n_samples=64))
    assert history.steps["fid"] == [2, 4]


def test_ddim_sample_on_cuda_is_reproducible_with_a_cpu_generator():
    from genlab.models.samplers import ddim_sample
    from genlab.models.unet import SmallUNet

    model = SmallUNet(base_channels=8, num_classes=10).to(DEVICE)
    labels = torch.arange(4)
    one, two = (ddim_sample(model, (4, 1, 8, 8), _abar(), num_steps=5, labels=labels,
                            guidance_scale=2.0, generator=torch.Generator().manual_seed(0))
                for _ in range(2))
    assert one.device.type == "cuda"
    # same noise (drawn on the CPU generator); cuDNN may pick kernels that sum in another
    # order between calls, a few float32 ulps over 5 steps
    torch.testing.assert_close(one, two, rtol=0, atol=1e-4)


def test_mixed_precision_recipe_on_cuda():
    from genlab.stabilize import mixed_precision

    recipe = mixed_precision("fp16", device="cuda")
    assert recipe.dtype == torch.float16 and recipe.make_scaler().is_enabled()
