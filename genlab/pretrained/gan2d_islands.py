"""Chapter 01's best 2-D GAN: the 25-mode grid, 128 noise islands, 4,000 steps.

Section 11 of chapter 01 trains this recipe live for a few hundred steps, to show the
islands at work, and loads the full run beside it for the temperature sweep.
:data:`RECIPE` is the chapter's call of ``genlab.train.gan.train_gan_2d``: the
non-saturating loss, 3 x 128-unit MLPs, Adam 5e-3 with betas (0, 0.9) decaying linearly
to 0, batch 256, and a :class:`~genlab.models.latent.MixturePrior` of 128 islands of std
0.05 in 8 dimensions (means drawn with seed 0).

``python -m genlab.pretrained build gan2d-grid-islands`` retrains it (about 10-30 CPU
seconds on one core), checks mode coverage, writes one safetensors file (``generator.*``,
``discriminator.*``, the islands' ``prior.means`` and the per-step ``g_loss`` and
``d_loss``; about 0.3 MB) and records its SHA-256 in ``registry.json`` (only this entry
is rewritten). :func:`load_gan2d_grid_islands` checks the hash before reading a tensor.

Reproducibility: one thread, seeded generators, deterministic algorithms: a rebuild on the
same machine gives the same bytes. GAN training is chaotic, so another CPU's float32
rounding can give a different, equally good file; the course relies on the shipped one.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab._checks import check_int
from genlab.pretrained import store
from genlab.pretrained.digits_features import ChecksumError, _deterministic_cpu, package_dir

__all__ = ["ChecksumError", "RECIPE", "build", "evaluate", "load_from",
           "load_gan2d_grid_islands", "train", "verify"]

NAME = "gan2d-grid-islands"
FILENAME = "gan2d_grid_islands.safetensors"
REBUILD = "python -m genlab.pretrained build gan2d-grid-islands"
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
    from genlab.train.gan import train_gan_2d

    recipe = dict(RECIPE, steps=RECIPE["steps"] if steps is None
                  else check_int("steps", steps, minimum=1))
    recipe["betas"] = tuple(recipe["betas"])
    with _deterministic_cpu():
        return train_gan_2d(**recipe, device="cpu", progress=False)


def evaluate(run) -> dict:
    """Mode coverage of 2,500 samples at temperatures 1 and 0.5:
    ``{"T=1": {...}, "T=0.5": {...}}`` with ``modes``, ``high_quality`` and ``spread``."""
    from genlab.metrics.modes import mode_spread
    from genlab.train.gan import evaluate_modes

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
    folder = Path(folder or package_dir())
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
        print(f"wrote {path} ({entry['bytes']:,} bytes), {quality}, sha256 {entry['sha256']}")
    return path


def verify(folder: str | Path | None = None) -> Path:
    """Check the file's SHA-256 against the registry; return its path (see
    :func:`genlab.pretrained.store.verify` for the errors)."""
    return store.verify(NAME, REBUILD, folder)


def load_from(folder: str | Path, device: str | torch.device = "cpu"):
    """Load the run in ``folder`` after verifying its hash; see :func:`load_gan2d_grid_islands`."""
    from genlab.data.toy2d import toy_dataset
    from genlab.models.latent import MixturePrior
    from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator
    from genlab.train.gan import GANRun
    from genlab.train.history import History

    tensors, entry = store.load_verified(NAME, REBUILD, folder)
    recipe = entry["recipe"]
    prior = MixturePrior(recipe["latent_dim"], recipe["n_components"], recipe["component_std"],
                         seed=recipe["seed"])
    # The generator learned the stored means. torch.randn's vectorized and scalar paths
    # (AVX2 or not) round differently in the last bit, so a recomputed prior is only close.
    stored = tensors["prior.means"]
    if stored.shape != prior.means.shape or not torch.allclose(prior.means, stored, rtol=0,
                                                               atol=1e-5):
        raise ValueError(f"{folder}: the stored island means are not those of MixturePrior(seed="
                         f"{recipe['seed']}); rebuild with `{REBUILD}`")
    prior.means = stored
    generator = MLPGenerator(recipe["latent_dim"], recipe["hidden"], recipe["n_hidden"])
    discriminator = MLPDiscriminator(2, recipe["hidden"], recipe["n_hidden"])
    for prefix, module in (("generator.", generator), ("discriminator.", discriminator)):
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                                if k.startswith(prefix)})
    history = History(meta={**recipe, "pretrained": NAME, "seconds": entry["build_seconds"],
                            "quality": entry["quality"]})
    for name in ("g_loss", "d_loss"):
        for step, value in enumerate(tensors[name].tolist()):
            history.log(step, **{name: value})
    centers, std = toy_dataset(recipe["dataset"])
    return GANRun(history, generator.to(device), discriminator.to(device), centers, std,
                  None, prior)


def load_gan2d_grid_islands(device: str | torch.device | None = None):
    """The shipped 4,000-step islands run on the grid, hash-verified.

    Returns a :class:`~genlab.train.gan.GANRun` like ``train_gan_2d``'s: ``generator``
    (:class:`~genlab.models.mlp2d.MLPGenerator`, ``(n, 8)`` noise -> ``(n, 2)`` points),
    ``discriminator``, the grid's ``centers`` ``(25, 2)`` and ``std``, and the
    ``latent_prior`` it was trained on (sample from it:
    ``evaluate_modes(run.generator, "grid", latent_prior=run.latent_prior)``). The
    ``history`` holds the per-step ``g_loss`` and ``d_loss`` of the build and ``meta``
    its recipe and measured ``quality``. New, trainable modules on ``device`` (CPU by
    default) at every call.
    """
    return load_from(package_dir(), device or "cpu")
