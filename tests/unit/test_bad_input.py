"""Bad input across the public API: a clear error naming the argument, never a silent fix.

The project's own list of bad inputs (keep it growing): one row per case with the
exception type expected and a fragment of its message (the argument's name, or the
environment variable's, and what was expected). A row fails if the call is accepted,
raises another type, or raises a message that does not name the argument, e.g. a raw
torch, NumPy or JSON error.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from torch import nn


def _lin():
    return nn.Linear(2, 2)


def _images_0_16(n=8):
    """Digits as scikit-learn ships them (0..16), not the course's [-1, 1]."""
    return torch.rand(n, 1, 8, 8) * 16


def _abar(T=20):
    from genlab.losses.diffusion import alphas_cumprod_from_betas, linear_beta_schedule

    return alphas_cumprod_from_betas(linear_beta_schedule(T, 1e-3, 0.2))


def _unet(**kw):
    from genlab.models.unet import SmallUNet

    return SmallUNet(base_channels=8, **kw)


def _train_diffusion(**kw):
    from genlab.train.diffusion import train_diffusion

    images = kw.pop("images", torch.rand(8, 1, 8, 8) * 2 - 1)
    return train_diffusion(_unet(), images, alphas_cumprod=_abar(), steps=1, batch_size=4,
                           **kw)


def _train_vae(model=None, **kw):
    from genlab.models.vae import DigitsVAE
    from genlab.train.vae import train_vae

    images = kw.pop("images", torch.rand(8, 1, 8, 8) * 2 - 1)
    return train_vae(model if model is not None else DigitsVAE(likelihood="gaussian"),
                     images, steps=1, batch_size=4, **kw)


def _train_gan(**kw):
    from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator
    from genlab.train.gan import GANConfig, train_gan

    return train_gan(GANConfig(steps=1, batch_size=4, **kw), lambda n: torch.randn(n, 2),
                     MLPGenerator(hidden=8), MLPDiscriminator(hidden=8))


def _train_gan_digits(**kw):
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.train.gan_digits import train_gan_digits

    images = kw.pop("images", torch.rand(8, 1, 8, 8) * 2 - 1)
    return train_gan_digits(DigitsGenerator(width=4), DigitsDiscriminator(width=4), 1,
                            images=images, batch_size=4, **kw)


def _frechet_negative_definite():
    from genlab.metrics.fid import frechet_distance

    return frechet_distance(torch.zeros(2), -torch.eye(2), torch.zeros(2), torch.eye(2))


def _trace_plateau_nan():
    from genlab.optim import plateau, trace_lr

    return trace_lr(plateau, 3, metrics=[1.0, float("nan"), 1.0])


def _mp_cuda_without_cuda():
    from genlab.stabilize import mixed_precision

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the recipe is valid here")
    return mixed_precision("fp16", device="cuda")


def _noise_summary(t):
    from genlab.widgets.noise_schedule import schedule_curves, summary

    return summary(schedule_curves("linear", 10), t)


def _ddim_guidance_unconditional():
    from genlab.models.samplers import ddim_sample

    return ddim_sample(_unet(), (2, 1, 8, 8), _abar(), num_steps=2,
                       labels=torch.tensor([1, 2]), guidance_scale=3.0)


def _ddim_guidance_without_labels():
    from genlab.models.samplers import ddim_sample

    return ddim_sample(_unet(num_classes=10), (2, 1, 8, 8), _abar(), num_steps=2,
                       guidance_scale=3.0)


def _device_env(monkeypatch, value):
    from genlab.device import get_device

    monkeypatch.setenv("GENLAB_DEVICE", value)
    return get_device()


def _corrupt_registry(tmp_path):
    from genlab.pretrained.store import read_registry

    (tmp_path / "registry.json").write_text("{ not json", encoding="utf-8")
    return read_registry(tmp_path)


def _truncated_checkpoint(tmp_path):
    """A checkpoint cut short after it was hashed: the registry records the cut file's
    hash (as if registry and file were copied together), so only the loader can tell."""
    from genlab.pretrained import digits_features as F
    from genlab.pretrained import store

    data = (store.package_dir() / F.FILENAME).read_bytes()
    (tmp_path / F.FILENAME).write_bytes(data[: len(data) // 2])
    entry = dict(store.read_registry()[F.NAME])
    entry["files"] = {F.FILENAME: store.sha256_of_file(tmp_path / F.FILENAME)}
    (tmp_path / "registry.json").write_text(json.dumps({F.NAME: entry}), encoding="utf-8")
    return F.load_from(tmp_path)


def _grade_folder(tmp_path, capsys):
    """``genlab grade`` on a folder: the message says to give the notebook file."""
    from genlab.cli import main

    (tmp_path / "01_gan_losses").mkdir()
    code = main(["grade", str(tmp_path / "01_gan_losses")])
    err = capsys.readouterr().err
    raise SystemExit(f"exit {code}: {err}")


CASES = [
    # --- cases measured in issue 17: silently accepted before -----------------------------
    ("train_diffusion-grad_clip-negative", lambda: _train_diffusion(grad_clip=-1.0),
     ValueError, "grad_clip must be > 0"),
    ("train_diffusion-images-0..16", lambda: _train_diffusion(images=_images_0_16()),
     ValueError, "images must lie in [-1, 1]"),
    ("fid-images-0..16", lambda: __import__("genlab.metrics.fid", fromlist=["fid"]).fid(
        "test", _images_0_16()), ValueError, "images must lie in [-1, 1]"),
    ("frechet_distance-negative-definite", _frechet_negative_definite,
     ValueError, "sigma1 must be positive semi-definite"),
    ("d_loss_lsgan-a-nan", lambda: __import__("genlab.losses.gan", fromlist=["x"]).d_loss_lsgan(
        torch.zeros(3), torch.zeros(3), a=float("nan")), ValueError, "a must be finite"),
    ("d_loss_lsgan-b-inf", lambda: __import__("genlab.losses.gan", fromlist=["x"]).d_loss_lsgan(
        torch.zeros(3), torch.zeros(3), b=math.inf), ValueError, "b must be finite"),
    ("g_loss_lsgan-c-nan", lambda: __import__("genlab.losses.gan", fromlist=["x"]).g_loss_lsgan(
        torch.zeros(3), c=float("nan")), ValueError, "c must be finite"),
    ("cosine_alpha_bar-float", lambda: __import__(
        "genlab.losses.diffusion", fromlist=["x"]).cosine_alpha_bar(3.0),
     TypeError, "u must be a torch.Tensor"),
    ("cosine_alpha_bar-u-outside-0-1", lambda: __import__(
        "genlab.losses.diffusion", fromlist=["x"]).cosine_alpha_bar(torch.tensor([3.0])),
     ValueError, "u must lie in [0, 1]"),
    ("loss_scale_update-found_inf-str", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).loss_scale_update(1024.0, "no", 0),
     TypeError, "found_inf must be True or False"),
    ("mixed_precision-cuda-without-cuda", _mp_cuda_without_cuda,
     ValueError, "device is 'cuda' but torch sees no CUDA device"),
    ("trace_lr-plateau-nan-metric", _trace_plateau_nan,
     ValueError, "metrics[1] must be finite"),
    ("load_digits-flatten-str", lambda: __import__("genlab.data", fromlist=["x"]).load_digits(
        "train", flatten="no"), TypeError, "flatten must be True or False"),
    ("noise_schedule-summary-t-negative", lambda: _noise_summary(-1),
     ValueError, "t must be >= 0"),
    ("noise_schedule-summary-t-past-end", lambda: _noise_summary(10),
     ValueError, "t must be in [0, 9]"),
    # --- cases measured in issue 17: raw torch/numpy/JSON errors before -------------------
    ("make_optimizer-module", lambda: __import__("genlab.optim", fromlist=["x"]).make_optimizer(
        _lin()), TypeError, "params must be parameters, e.g. model.parameters()"),
    ("make_optimizer-eps-negative", lambda: __import__(
        "genlab.optim", fromlist=["x"]).make_optimizer(_lin().parameters(), "adam", eps=-1.0),
     ValueError, "eps must be > 0"),
    ("make_optimizer-betas-out-of-range", lambda: __import__(
        "genlab.optim", fromlist=["x"]).make_optimizer(_lin().parameters(), "gan",
                                                       betas=(1.5, 0.9)),
     ValueError, "betas[0] must be a number in [0, 1)"),
    ("train_gan-betas-out-of-range", lambda: _train_gan(betas=(2.0, 0.999)),
     ValueError, "betas[0] must be a number in [0, 1)"),
    ("train_gan_digits-betas-out-of-range", lambda: _train_gan_digits(betas=(0.5, 1.0)),
     ValueError, "betas[1] must be a number in [0, 1)"),
    ("ttur_optimizers-betas-float", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).ttur_optimizers(_lin(), _lin(), betas=0.5),
     ValueError, "betas must be a pair"),
    ("ttur_optimizers-parameters-not-module", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).ttur_optimizers(list(_lin().parameters()), _lin()),
     TypeError, "generator must be a torch.nn.Module"),
    ("clip_gradients-module", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).clip_gradients(_lin(), 1.0),
     TypeError, "model.parameters()"),
    ("MLPGenerator-numpy", lambda: __import__(
        "genlab.models.mlp2d", fromlist=["x"]).MLPGenerator()(np.zeros((4, 2))),
     TypeError, "z must be a torch.Tensor"),
    ("MLPGenerator-int-tensor", lambda: __import__(
        "genlab.models.mlp2d", fromlist=["x"]).MLPGenerator()(torch.zeros(4, 2, dtype=torch.long)),
     ValueError, "z must be a floating-point tensor"),
    ("MLPDiscriminator-numpy", lambda: __import__(
        "genlab.models.mlp2d", fromlist=["x"]).MLPDiscriminator()(np.zeros((4, 2))),
     TypeError, "x must be a torch.Tensor"),
    ("MLPDiscriminator-int-tensor", lambda: __import__(
        "genlab.models.mlp2d", fromlist=["x"]).MLPDiscriminator()(torch.zeros(4, 2, dtype=torch.int32)),
     ValueError, "x must be a floating-point tensor"),
    ("DigitsGenerator-numpy", lambda: __import__(
        "genlab.models.dcgan_digits", fromlist=["x"]).DigitsGenerator()(np.zeros((4, 16))),
     TypeError, "z must be a torch.Tensor"),
    ("DigitsDiscriminator-int", lambda: __import__(
        "genlab.models.dcgan_digits", fromlist=["x"]).DigitsDiscriminator()(
            torch.zeros(4, 1, 8, 8, dtype=torch.long)),
     ValueError, "images must be a floating-point tensor"),
    ("DigitsVAE-encode-numpy", lambda: __import__(
        "genlab.models.vae", fromlist=["x"]).DigitsVAE().encode(np.zeros((4, 1, 8, 8))),
     TypeError, "x must be a torch.Tensor"),
    ("DigitsClassifier-numpy", lambda: __import__(
        "genlab.models.digits_classifier", fromlist=["x"]).DigitsClassifier()(
            np.zeros((4, 1, 8, 8))),
     TypeError, "images must be a torch.Tensor"),
    ("SmallUNet-t-float", lambda: _unet()(torch.zeros(2, 1, 8, 8), torch.tensor([1.5, 2.0])),
     ValueError, "t must hold integer timesteps"),
    ("SmallUNet-t-int", lambda: _unet()(torch.zeros(2, 1, 8, 8), 5),
     TypeError, "t must be a torch.Tensor"),
    ("GENLAB_DEVICE-cpux", lambda mp: _device_env(mp, "cpux"),
     ValueError, "GENLAB_DEVICE"),
    ("GENLAB_DEVICE-cuda-x", lambda mp: _device_env(mp, "cuda:x"),
     ValueError, "GENLAB_DEVICE"),
    ("ddim_sample-guidance-unconditional", _ddim_guidance_unconditional,
     ValueError, "guidance_scale"),
    ("ddim_sample-guidance-without-labels", _ddim_guidance_without_labels,
     ValueError, "guidance_scale"),
    ("read_registry-corrupt-json", _corrupt_registry, ValueError, "registry.json"),
    ("load_from-truncated-checkpoint", _truncated_checkpoint,
     ValueError, "is not a readable safetensors file"),
    # --- like them, elsewhere in the API ---------------------------------------------------
    ("train_diffusion-p_uncond-str", lambda: _train_diffusion(p_uncond="0.1"),
     TypeError, "p_uncond must be a number"),
    ("train_diffusion-lambda_vlb-negative", lambda: _train_diffusion(lambda_vlb=-1.0),
     ValueError, "lambda_vlb must be >= 0"),
    ("train_diffusion-snr_gamma-zero", lambda: _train_diffusion(snr_gamma=0.0),
     ValueError, "snr_gamma must be > 0"),
    ("train_diffusion-model-not-module", lambda: __import__(
        "genlab.train.diffusion", fromlist=["x"]).train_diffusion(
            lambda x, t, y: x, torch.zeros(4, 1, 8, 8), alphas_cumprod=_abar(), steps=1),
     TypeError, "model must be a torch.nn.Module"),
    ("train_vae-images-0..16", lambda: _train_vae(images=_images_0_16()),
     ValueError, "images must lie in [-1, 1]"),
    ("train_vae-model-without-likelihood", lambda: _train_vae(model=nn.Linear(64, 4)),
     TypeError, "model must be a DigitsVAE"),
    ("train_gan_digits-images-0..16", lambda: _train_gan_digits(images=_images_0_16()),
     ValueError, "images must lie in [-1, 1]"),
    ("train_gan-sample_real-wrong-shape", lambda: __import__(
        "genlab.train.gan", fromlist=["x"]).train_gan(
            __import__("genlab.train.gan", fromlist=["x"]).GANConfig(steps=1, batch_size=4),
            lambda n: torch.randn(n + 1, 2),
            __import__("genlab.models.mlp2d", fromlist=["x"]).MLPGenerator(hidden=8),
            __import__("genlab.models.mlp2d", fromlist=["x"]).MLPDiscriminator(hidden=8)),
     ValueError, "sample_real(4) must return"),
    ("train_gan-grad_clip-negative", lambda: _train_gan(grad_clip=-1.0),
     ValueError, "grad_clip must be > 0"),
    ("train_denoiser-scheduler-not-callable", lambda: __import__(
        "genlab.toys.optimizers", fromlist=["x"]).train_denoiser(make_scheduler=3, steps=1),
     TypeError, "make_scheduler must be a function"),
    ("train_regression-scheduler-not-callable", lambda: __import__(
        "genlab.toys.optimizers", fromlist=["x"]).train_regression(make_scheduler="cosine", steps=1),
     TypeError, "make_scheduler must be a function"),
    ("sample_mixture-numpy-centers", lambda: __import__(
        "genlab.data", fromlist=["x"]).sample_mixture(np.zeros((3, 2)), 4, 0.1),
     TypeError, "centers must be a torch.Tensor"),
    ("to_unit_range-numpy", lambda: __import__("genlab.data", fromlist=["x"]).to_unit_range(
        np.zeros((2, 1, 8, 8))), TypeError, "images must be a torch.Tensor"),
    ("mixed_precision-device-typo", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).mixed_precision(True, device="gpu"),
     ValueError, "device must be"),
    ("device.mixed_precision-device-typo", lambda: __import__(
        "genlab.device", fromlist=["x"]).mixed_precision(True, device="gpu"),
     ValueError, "device must be"),
    ("seed_everything-float", lambda: __import__("genlab.device", fromlist=["x"]).seed_everything(
        1.0), TypeError, "seed must be an int"),
    ("spectral_norm_estimate-numpy", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).spectral_norm_estimate(np.eye(3)),
     TypeError, "weight must be a torch.Tensor"),
    ("fp16_roundtrip-scale-zero", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).fp16_roundtrip(torch.ones(2), scale=0.0),
     ValueError, "scale must be > 0"),
    ("smoothed_targets-real-str", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).smoothed_targets(torch.zeros(2), "yes"),
     TypeError, "real must be True or False"),
    ("make_prior-unknown", lambda: __import__(
        "genlab.models.latent", fromlist=["x"]).make_prior("uniform", 2),
     ValueError, "kind must be 'gaussian' or 'mixture'"),
    ("kl_weight-beta-negative", lambda: __import__(
        "genlab.train.vae", fromlist=["x"]).kl_weight(0, beta=-1.0),
     ValueError, "beta must be >= 0"),
    ("ema_update-decay-above-1", lambda: __import__(
        "genlab.train.gan", fromlist=["x"]).ema_update_(_lin(), _lin(), 1.5),
     ValueError, "decay must be in [0, 1]"),
    ("gan_preset-unknown", lambda: __import__(
        "genlab.train.gan", fromlist=["x"]).gan_preset("wgan_gp"),
     ValueError, "loss must be one of"),
    ("mode_coverage-numpy", lambda: __import__(
        "genlab.metrics.modes", fromlist=["x"]).mode_coverage(np.zeros((3, 2)),
                                                              torch.zeros(2, 2), 0.1),
     TypeError, "samples must be a torch.Tensor"),
    ("inception_score-logits", lambda: __import__(
        "genlab.metrics.inception_score", fromlist=["x"]).inception_score(
            torch.tensor([[2.0, -1.0], [0.5, 0.5]])),
     ValueError, "probs must be non-negative"),
    ("digits_inception_score-images-0..16", lambda: __import__(
        "genlab.metrics.inception_score", fromlist=["x"]).digits_inception_score(
            _images_0_16()), ValueError, "images must lie in [-1, 1]"),
    ("fid-real-split-unknown", lambda: __import__(
        "genlab.metrics.fid", fromlist=["fid"]).fid("val", torch.zeros(4, 1, 8, 8)),
     ValueError, "split must be"),
    ("label_smoothing-train_discriminator-smoothing", lambda: __import__(
        "genlab.widgets.label_smoothing", fromlist=["x"]).train_discriminator(smoothing=0.7),
     ValueError, "smoothing must be in [0, 0.5)"),
    ("schedules-schedule_rates-unknown-param", lambda: __import__(
        "genlab.widgets.schedules", fromlist=["x"]).schedule_rates("step", gama=0.5),
     ValueError, "has no parameter"),
    ("mode_collapse-settings-smoothing-wgan", lambda: __import__(
        "genlab.widgets.mode_collapse", fromlist=["x"]).settings_to_kwargs(
            "wgan", label_smoothing=True), ValueError, "label_smoothing"),
    ("grade-on-a-folder", _grade_folder, SystemExit, "is a folder"),
    # --- found by calling every public function with an array or a string --------------------
    ("make_beta_schedule-name-array", lambda: __import__(
        "genlab.losses.diffusion", fromlist=["x"]).make_beta_schedule(np.zeros(3)),
     ValueError, "name must be one of ['linear', 'cosine'], got a ndarray"),
    ("preset_settings-array", lambda: __import__("genlab.optim", fromlist=["x"]).preset_settings(
        np.zeros(2)), ValueError, "preset must be one of"),
    ("get_gan_loss-array", lambda: __import__("genlab.losses.gan", fromlist=["x"]).get_gan_loss(
        np.zeros(2)), ValueError, "loss must be one of"),
    ("toy_dataset-array", lambda: __import__("genlab.data", fromlist=["x"]).toy_dataset(
        np.zeros(2)), ValueError, "name must be one of"),
    ("load_digits-split-array", lambda: __import__("genlab.data", fromlist=["x"]).load_digits(
        np.zeros(2)), ValueError, "split must be 'train', 'test' or 'all'"),
    ("make_prior-kind-array", lambda: __import__(
        "genlab.models.latent", fromlist=["x"]).make_prior(np.zeros(2), 2),
     ValueError, "kind must be 'gaussian' or 'mixture'"),
    ("normal_kl-numpy", lambda: __import__("genlab.losses.diffusion", fromlist=["x"]).normal_kl(
        np.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3)),
     TypeError, "mean1 must be a torch.Tensor"),
    ("discretized_gaussian_log_likelihood-numpy", lambda: __import__(
        "genlab.losses.diffusion", fromlist=["x"]).discretized_gaussian_log_likelihood(
            np.zeros(3), torch.zeros(3), torch.zeros(3)), TypeError, "x must be a torch.Tensor"),
    ("lipschitz_bound-not-module", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).lipschitz_bound("mlp"),
     TypeError, "module must be a torch.nn.Module"),
    ("has_spectral_norm-not-module", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).has_spectral_norm([_lin()]),
     TypeError, "module must be a torch.nn.Module"),
    ("empirical_lipschitz-not-callable", lambda: __import__(
        "genlab.stabilize", fromlist=["x"]).empirical_lipschitz("D", torch.zeros(3, 2)),
     TypeError, "module must be a network"),
    ("best_step-not-history", lambda: __import__(
        "genlab.train.hooks", fromlist=["x"]).best_step({"fid": [1.0]}),
     TypeError, "history must be a genlab.train.History"),
    ("dirac_gan_grads-array", lambda: __import__(
        "genlab.toys.optimizers", fromlist=["x"]).dirac_gan_grads(np.zeros(2), 0.5),
     TypeError, "theta must be a number"),
    ("generator_gradient_norms-not-module", lambda: __import__(
        "genlab.widgets.label_smoothing", fromlist=["x"]).generator_gradient_norms(
            "D", torch.zeros(3, 2)), TypeError, "model must be a torch.nn.Module"),
    ("plot_schedules-not-dict", lambda: __import__(
        "genlab.widgets.schedules", fromlist=["x"]).plot_schedules([0.1, 0.2]),
     TypeError, "curves must be a dict"),
    ("label_for-unknown-kind", lambda: __import__(
        "genlab.widgets.schedules", fromlist=["x"]).label_for("cosin", 1e-3),
     ValueError, "kind must be one of"),
    ("plot_series-not-history", lambda: __import__("genlab.viz", fromlist=["x"]).plot_series(
        {"loss": [1.0]}), TypeError, "history must be a genlab.train.History"),
    ("viz.gan.plot_weight_histograms-not-dict", lambda: __import__(
        "genlab.viz.gan", fromlist=["x"]).plot_weight_histograms([_lin()]),
     TypeError, "critics must be a dict"),
    ("viz.vae.kl_heatmap-not-dict", lambda: __import__(
        "genlab.viz.vae", fromlist=["x"]).kl_heatmap(torch.zeros(2)),
     TypeError, "kl_by_run must be a dict"),
    ("viz.vae.latent_manifold-not-module", lambda: __import__(
        "genlab.viz.vae", fromlist=["x"]).latent_manifold("vae"),
     TypeError, "model must be a torch.nn.Module"),
    ("viz.diffusion.plot_side_by_side-not-dict", lambda: __import__(
        "genlab.viz.diffusion", fromlist=["x"]).plot_side_by_side(torch.zeros(4, 1, 8, 8)),
     TypeError, "samples must be a dict"),
    ("viz.stabilize.plot_norm_traces-not-dict", lambda: __import__(
        "genlab.viz.stabilize", fromlist=["x"]).plot_norm_traces([1.0, 2.0]),
     TypeError, "traces must be a dict"),
    ("LiveLossPlot-every-zero", lambda: __import__("genlab.viz", fromlist=["x"]).LiveLossPlot(
        every=0), ValueError, "every must be >= 1"),
    ("train_gan-progress-str", lambda: _train_gan(progress="yes"),
     TypeError, "progress must be True or False"),
    ("train_vae-callback-not-callable", lambda: _train_vae(callback="plot"),
     TypeError, "callback must be callable"),
]


@pytest.mark.parametrize("call, exc, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(call, exc, fragment, monkeypatch, tmp_path, capsys):
    import inspect

    names = list(inspect.signature(call).parameters)
    fixtures = {"mp": monkeypatch, "monkeypatch": monkeypatch, "tmp_path": tmp_path,
                "capsys": capsys}
    args = [fixtures[n] for n in names]
    if names == ["tmp_path", "capsys"]:
        args = [tmp_path, capsys]
    with pytest.raises(exc, match=re.escape(fragment)):
        call(*args)


def test_every_case_has_a_unique_id():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
