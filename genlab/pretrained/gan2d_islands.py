"""Chapter 01's best 2-D GAN: the 25-mode grid, 128 noise islands, 4,000 steps.

Section 11 of chapter 01 trains this recipe live for a few hundred steps, to show the
islands at work, and loads the full run beside it for the temperature sweep.
The recipe (:mod:`genlab.recipes.gan2d_islands`) is the chapter's call of ``genlab.train.gan.train_gan_2d``: the
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

from genlab.data.toy2d import toy_dataset
from genlab.history import GANRun, History
from genlab.models.latent import MixturePrior
from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator
from genlab.pretrained import store
from genlab.pretrained.store import ChecksumError, package_dir

__all__ = ["ChecksumError", "load_from", "load_gan2d_grid_islands", "verify"]

NAME = "gan2d-grid-islands"
FILENAME = "gan2d_grid_islands.safetensors"
REBUILD = store.rebuild_command(NAME)


def verify(folder: str | Path | None = None) -> Path:
    """Check the file's SHA-256 against the registry; return its path (see
    :func:`genlab.pretrained.store.verify` for the errors)."""
    return store.verify(NAME, folder)


def load_from(folder: str | Path, device: str | torch.device = "cpu"):
    """Load the run in ``folder`` after verifying its hash; see :func:`load_gan2d_grid_islands`."""
    tensors, entry = store.load_verified(NAME, folder)
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
        # steps count from 1, as train_gan logged them (genlab.train.loop)
        for step, value in enumerate(tensors[name].tolist(), start=1):
            history.log(step, **{name: value})
    centers, std = toy_dataset(recipe["dataset"])
    return GANRun(history, generator.to(device), discriminator.to(device), centers, std,
                  None, prior)


def load_gan2d_grid_islands(device: str | torch.device | None = None):
    """The shipped 4,000-step islands run on the grid, hash-verified.

    Returns a :class:`~genlab.history.GANRun` like ``train_gan_2d``'s: ``generator``
    (:class:`~genlab.models.mlp2d.MLPGenerator`, ``(n, 8)`` noise -> ``(n, 2)`` points),
    ``discriminator``, the grid's ``centers`` ``(25, 2)`` and ``std``, and the
    ``latent_prior`` it was trained on (sample from it:
    ``evaluate_modes(run.generator, "grid", latent_prior=run.latent_prior)``). The
    ``history`` holds the per-step ``g_loss`` and ``d_loss`` of the build and ``meta``
    its recipe and measured ``quality``. New, trainable modules on ``device`` (CPU by
    default) at every call.
    """
    return load_from(package_dir(), device or "cpu")
