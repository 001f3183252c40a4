"""The chapter 03 U-Nets trained for 1,500 steps: one epsilon- and one v-prediction model.

Chapters 03 and 06 train these models live for a few hundred steps, which is enough to
see the losses fall but not to draw good digits. Beside the live runs they load the
same recipe trained longer: :data:`RECIPE` is
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

from genlab._checks import check_choice, check_int
from genlab.pretrained import store
from genlab.pretrained.digits_features import ChecksumError, _deterministic_cpu, package_dir

__all__ = ["ChecksumError", "PREDICTIONS", "RECIPE", "build", "evaluate",
           "load_digits_diffusion", "load_from", "train", "verify"]

NAME = "digits-diffusion"
FILENAME = "digits_diffusion.safetensors"
REBUILD = "python -m genlab.pretrained build digits-diffusion"
PREDICTIONS = ("epsilon", "v")
# The recipe is part of what the hash pins down: change one and rebuild. Everything but
# ``steps`` is train_digits_diffusion's default, so a live run with the same seed
# retraces the start of the shipped one.
RECIPE = {
    "predictions": list(PREDICTIONS),
    "split": "train",
    "schedule": "cosine",
    "T": 1000,
    "base_channels": 16,
    "steps": 1500,
    "batch_size": 128,
    "lr": 3e-3,
    "ema_decay": 0.995,
    "grad_clip": 1.0,
    "seed": 0,
    "train_dtype": "float32",
    "threads": 1,
}
# Quality gate of a full build: 360 samples with 50 DDIM steps (noise seed 0), digits-FID
# against the train split as a multiple of the real-versus-real floor. quality.py measured
# 4.5x (epsilon) and 4.0x (v) after 1,500 steps.
EVAL_SAMPLES = 360
EVAL_DDIM_STEPS = 50
MAX_FID_OVER_FLOOR = 8.0


def train(prediction: str, steps: int | None = None):
    """Train one model from scratch by :data:`RECIPE` on the CPU, deterministically.

    Returns ``(model, history)`` as ``train_digits_diffusion`` does (``model`` in eval
    mode, holding the EMA weights); ``steps`` overrides the recipe's step count.
    """
    from genlab.train.diffusion import train_digits_diffusion

    check_choice("prediction", prediction, PREDICTIONS)
    steps = RECIPE["steps"] if steps is None else check_int("steps", steps, minimum=1)
    with _deterministic_cpu():
        return train_digits_diffusion(
            prediction, steps=steps, schedule=RECIPE["schedule"], T=RECIPE["T"],
            base_channels=RECIPE["base_channels"], batch_size=RECIPE["batch_size"],
            lr=RECIPE["lr"], ema_decay=RECIPE["ema_decay"], grad_clip=RECIPE["grad_clip"],
            seed=RECIPE["seed"], device="cpu", progress=False)


@torch.no_grad()
def evaluate(model, prediction: str, alphas_cumprod: torch.Tensor) -> dict:
    """``{"fid", "fid_over_floor", "confident"}`` of :data:`EVAL_SAMPLES` DDIM samples.

    fid: digits-FID against the train split; fid_over_floor: that over the floor of 360
    real test digits; confident: the share the digits classifier labels with
    probability above 0.9 (real test digits: about 0.99).
    """
    from genlab.metrics.fid import fid, real_vs_real_floor
    from genlab.metrics.inception_score import digits_class_probs
    from genlab.models.samplers import ddim_sample

    images = ddim_sample(model, (EVAL_SAMPLES, 1, 8, 8), alphas_cumprod, EVAL_DDIM_STEPS,
                         prediction=prediction, generator=torch.Generator().manual_seed(0)).cpu()
    value = fid("train", images.clamp(-1, 1))
    confident = (digits_class_probs(images).max(dim=1).values > 0.9).float().mean().item()
    return {"fid": round(value, 3), "fid_over_floor": round(value / real_vs_real_floor(), 2),
            "confident": round(confident, 4)}


def build(folder: str | Path | None = None, verbose: bool = True,
          steps: int | None = None) -> Path:
    """Train both models, check their quality, save the file and record its hash.

    ``folder`` defaults to the installed package (what ``python -m genlab.pretrained
    build digits-diffusion`` rewrites); tests pass a temporary folder and a few ``steps``
    (a smoke build: recorded as such, no quality gate). A full build raises
    ``RuntimeError`` when a model's FID is above :data:`MAX_FID_OVER_FLOOR` floors.
    """
    folder = Path(folder or package_dir())
    folder.mkdir(parents=True, exist_ok=True)
    recipe = dict(RECIPE, steps=RECIPE["steps"] if steps is None else steps)
    full = recipe["steps"] == RECIPE["steps"]
    tensors, quality, cpu_seconds = {}, {}, {}
    for prediction in PREDICTIONS:
        model, history = train(prediction, recipe["steps"])
        tensors.update({f"{prediction}.{k}": v for k, v in model.state_dict().items()})
        tensors[f"loss.{prediction}"] = torch.tensor(history["loss"], dtype=torch.float32)
        cpu_seconds[prediction] = round(history.meta["cpu_seconds"], 1)
        quality[prediction] = evaluate(model, prediction, history.meta["alphas_cumprod"])
        if full and quality[prediction]["fid_over_floor"] > MAX_FID_OVER_FLOOR:
            raise RuntimeError(
                f"the {prediction} model reached {quality[prediction]['fid_over_floor']}x the "
                f"FID floor (at most {MAX_FID_OVER_FLOOR} required); the recipe needs changing")
        if verbose:
            print(f"{prediction}: {cpu_seconds[prediction]} CPU s, {quality[prediction]}")
    path = folder / FILENAME
    store.save_tensors(path, tensors)
    fields = {"quality": quality, "eval": {"samples": EVAL_SAMPLES,
                                           "ddim_steps": EVAL_DDIM_STEPS, "noise_seed": 0},
              "build_cpu_seconds": cpu_seconds, "recipe": recipe}
    if not full:
        fields["note"] = f"smoke build ({recipe['steps']} steps), not the shipped model"
    entry = store.record(folder, NAME, path, REBUILD, **fields)
    if verbose:
        print(f"wrote {path} ({entry['bytes']:,} bytes), sha256 {entry['sha256']}")
    return path


def verify(folder: str | Path | None = None) -> Path:
    """Check the file's SHA-256 against the registry; return its path (see
    :func:`genlab.pretrained.store.verify` for the errors)."""
    return store.verify(NAME, REBUILD, folder)


def load_from(folder: str | Path, prediction: str = "epsilon",
              device: str | torch.device = "cpu"):
    """Load one model from ``folder`` after verifying the file's hash; see
    :func:`load_digits_diffusion`."""
    from genlab.models.unet import SmallUNet
    from genlab.train.diffusion import make_alphas_cumprod
    from genlab.train.history import History

    check_choice("prediction", prediction, PREDICTIONS)
    tensors, entry = store.load_verified(NAME, REBUILD, folder)
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
    for step, value in enumerate(tensors[f"loss.{prediction}"].tolist()):
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
