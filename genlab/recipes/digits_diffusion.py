"""Recipe and builder of the chapter 03 U-Nets (:mod:`genlab.pretrained.digits_diffusion`).

``python -m genlab.pretrained build digits-diffusion`` calls :func:`build`: it retrains
both models (about 2-5 CPU minutes on one core), checks their quality, writes one
safetensors file (the EMA weights under ``epsilon.*`` and ``v.*``, each run's per-step
training loss under ``loss.epsilon`` and ``loss.v``) and records it in ``registry.json``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab._checks import check_choice, check_int
from genlab.device import deterministic_cpu
from genlab.metrics.fid import fid, real_vs_real_floor
from genlab.metrics.inception_score import digits_class_probs
from genlab.models.samplers import ddim_sample
from genlab.pretrained import store
from genlab.pretrained.digits_diffusion import FILENAME, NAME, PREDICTIONS, REBUILD
from genlab.train.diffusion import train_digits_diffusion

__all__ = ["RECIPE", "build", "evaluate", "train"]

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
    check_choice("prediction", prediction, PREDICTIONS)
    steps = RECIPE["steps"] if steps is None else check_int("steps", steps, minimum=1)
    with deterministic_cpu():
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
    folder = Path(folder or store.package_dir())
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
        print(f"wrote {path} ({entry['bytes']:,} bytes), sha256 {entry['files'][FILENAME]}")
    return path
