"""The chapter 03 U-Nets trained for 1,500 steps: one epsilon- and one v-prediction model.

Chapters 03 and 06 train these models live for a few hundred steps, which is enough to
see the losses fall but not to draw good digits. Beside the live runs they load the
same recipe trained longer: the recipe (:mod:`genlab.recipes.digits_diffusion`) is
``genlab.train.diffusion.train_digits_diffusion`` (a 16-channel
:class:`~genlab.models.unet.SmallUNet`, cosine schedule, AdamW 3e-3, batch 128, EMA
0.995) with ``steps=1500`` and seed 0, the run ``benchmarks/quality.py`` measured at about
4x the real-versus-real FID floor with 50 DDIM steps.

``python -m genlab.pretrained build digits-diffusion`` retrains both (about 2-5 CPU
minutes on one core), checks their quality, writes one safetensors file (the EMA weights
under ``epsilon.*`` and ``v.*``, each run's per-step training loss under
``loss.epsilon`` and ``loss.v``; about 1 MB) and records its SHA-256 in
``registry.json`` (only this entry is rewritten). :func:`load_digits_diffusion` checks
the hash before reading a tensor.

Reproducibility: the build trains on one thread with deterministic algorithms, so a
rebuild on the same machine gives the same bytes; another CPU's float32 kernels may round
differently and give an equally good file with another hash. The course relies on the
shipped file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab._checks import check_choice
from genlab.history import History
from genlab.losses.diffusion import make_alphas_cumprod
from genlab.models.unet import SmallUNet
from genlab.pretrained import store
from genlab.pretrained.store import ChecksumError, package_dir

__all__ = ["ChecksumError", "PREDICTIONS", "load_digits_diffusion", "load_from", "verify"]

NAME = "digits-diffusion"
FILENAME = "digits_diffusion.safetensors"
REBUILD = store.rebuild_command(NAME)
PREDICTIONS = ("epsilon", "v")


def verify(folder: str | Path | None = None) -> Path:
    """Check the file's SHA-256 against the registry; return its path (see
    :func:`genlab.pretrained.store.verify` for the errors)."""
    return store.verify(NAME, folder)


def load_from(folder: str | Path, prediction: str = "epsilon",
              device: str | torch.device = "cpu"):
    """Load one model from ``folder`` after verifying the file's hash; see
    :func:`load_digits_diffusion`."""
    check_choice("prediction", prediction, PREDICTIONS)
    tensors, entry = store.load_verified(NAME, folder)
    recipe = entry["recipe"]
    model = SmallUNet(base_channels=recipe["base_channels"])
    prefix = f"{prediction}."
    model.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                           if k.startswith(prefix)})
    history = History(meta=dict(
        prediction=prediction, loss_type="simple", snr_gamma=None, steps=recipe["steps"],
        batch_size=recipe["batch_size"], T=recipe["T"], ema_decay=recipe["ema_decay"],
        alphas_cumprod=make_alphas_cumprod(recipe["schedule"], recipe["T"]),
        schedule=recipe["schedule"], base_channels=recipe["base_channels"],
        conditional=False, seed=recipe["seed"], interrupted=False, pretrained=NAME,
        cpu_seconds=entry["build_cpu_seconds"][prediction], quality=entry["quality"][prediction]))
    # steps count from 1, as every genlab loop logs them (genlab.train.loop)
    for step, value in enumerate(tensors[f"loss.{prediction}"].tolist(), start=1):
        history.log(step, loss=value)
    return model.to(device).eval(), history


def load_digits_diffusion(prediction: str = "epsilon", device: str | torch.device | None = None):
    """The shipped 1,500-step model for ``prediction`` (``"epsilon"`` or ``"v"``).

    Returns ``(model, history)`` shaped like ``train_digits_diffusion``'s: a
    :class:`~genlab.models.unet.SmallUNet` (16 base channels; ``(n, 1, 8, 8)`` noisy
    images and ``(n,)`` timesteps in -> ``(n, 1, 8, 8)`` prediction) in eval mode on
    ``device`` (default the CPU), and a :class:`~genlab.train.history.History` with the
    build's per-step ``loss`` and ``meta`` holding ``alphas_cumprod`` (float64, ``(1000,)``),
    the recipe's settings, ``cpu_seconds`` of the build and its measured ``quality``.
    Every call returns a new, trainable module.
    """
    return load_from(package_dir(), prediction, device or "cpu")
