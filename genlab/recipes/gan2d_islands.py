"""Recipe and builder of chapter 01's islands GAN (:mod:`genlab.pretrained.gan2d_islands`).

``python -m genlab.pretrained build gan2d-grid-islands`` calls :func:`build`: it retrains
the run (about 10-30 CPU seconds on one core), checks mode coverage and records one
safetensors file (``generator.*``, ``discriminator.*``, the islands' ``prior.means`` and
the per-step ``g_loss`` and ``d_loss``) in ``registry.json``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab._checks import check_int
from genlab.device import deterministic_cpu
from genlab.metrics.modes import mode_spread
from genlab.pretrained import store
from genlab.pretrained.gan2d_islands import FILENAME, NAME, REBUILD
from genlab.train.gan import evaluate_modes, train_gan_2d

__all__ = ["RECIPE", "build", "evaluate", "train"]

# The recipe is part of what the hash pins down: change one and rebuild. These are the
# keyword arguments of train_gan_2d (benchmarks/results/gan_modes*.md chose them).
RECIPE = {
    "dataset": "grid",
    "loss": "nonsaturating",
    "latent": "mixture",
    "latent_dim": 8,
    "n_components": 128,
    "component_std": 0.05,
    "hidden": 128,
    "n_hidden": 3,
    "steps": 4000,
    "batch_size": 256,
    "g_lr": 5e-3,
    "d_lr": 5e-3,
    "betas": [0.0, 0.9],
    "lr_decay": True,
    "seed": 0,
}
# Quality gate of a full build, on 2,500 samples at temperature 0.5: every mode covered
# and at least 85% of the samples within 3 std of one (the 10-seed mean is 97.4%).
MIN_HIGH_QUALITY = 0.85


def train(steps: int | None = None):
    """Train the recipe from scratch on the CPU, deterministically; returns a ``GANRun``.

    ``steps`` overrides the recipe's step count (the learning rate still decays to 0
    over the run).
    """
    recipe = dict(RECIPE, steps=RECIPE["steps"] if steps is None
                  else check_int("steps", steps, minimum=1))
    recipe["betas"] = tuple(recipe["betas"])
    with deterministic_cpu():
        return train_gan_2d(**recipe, device="cpu", progress=False)


def evaluate(run) -> dict:
    """Mode coverage of 2,500 samples at temperatures 1 and 0.5:
    ``{"T=1": {...}, "T=0.5": {...}}`` with ``modes``, ``high_quality`` and ``spread``."""
    result = {}
    for temperature in (1.0, 0.5):
        coverage, samples = evaluate_modes(run.generator, RECIPE["dataset"],
                                           latent_prior=run.latent_prior,
                                           temperature=temperature)
        result[f"T={temperature:g}"] = {
            "modes": coverage.modes_covered,
            "high_quality": round(coverage.high_quality, 4),
            "spread": round(mode_spread(samples, run.centers, run.std), 3)}
    return result


def build(folder: str | Path | None = None, verbose: bool = True,
          steps: int | None = None) -> Path:
    """Train, check coverage, save ``gan2d_grid_islands.safetensors`` and record its hash.

    ``folder`` defaults to the installed package; tests pass a temporary folder and a few
    ``steps`` (a smoke build: recorded as such, no quality gate). A full build raises
    ``RuntimeError`` when a mode is missed or the high-quality share at temperature 0.5 is
    below :data:`MIN_HIGH_QUALITY`.
    """
    folder = Path(folder or store.package_dir())
    folder.mkdir(parents=True, exist_ok=True)
    recipe = dict(RECIPE, steps=RECIPE["steps"] if steps is None else steps)
    full = recipe["steps"] == RECIPE["steps"]
    run = train(recipe["steps"])
    quality = evaluate(run)
    cool = quality["T=0.5"]
    if full and (cool["modes"] < 25 or cool["high_quality"] < MIN_HIGH_QUALITY):
        raise RuntimeError(
            f"the islands GAN covered {cool['modes']}/25 modes with {cool['high_quality']:.1%} "
            f"high-quality samples at T=0.5 (25 and {MIN_HIGH_QUALITY:.0%} required); "
            "the recipe needs changing")
    tensors = {f"generator.{k}": v for k, v in run.generator.state_dict().items()}
    tensors.update({f"discriminator.{k}": v for k, v in run.discriminator.state_dict().items()})
    tensors["prior.means"] = run.latent_prior.means
    for name in ("g_loss", "d_loss"):
        tensors[name] = torch.tensor(run.history[name], dtype=torch.float32)
    path = folder / FILENAME
    store.save_tensors(path, tensors)
    fields = {"quality": quality, "eval_samples": 2500, "recipe": recipe,
              "build_seconds": round(run.history.meta["seconds"], 1)}
    if not full:
        fields["note"] = f"smoke build ({recipe['steps']} steps), not the shipped model"
    entry = store.record(folder, NAME, path, REBUILD, **fields)
    if verbose:
        print(f"wrote {path} ({entry['bytes']:,} bytes), {quality}, sha256 {entry['files'][FILENAME]}")
    return path
