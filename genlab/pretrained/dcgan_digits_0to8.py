"""The digits DCGAN pretrained on digits 0-8 only: the starting point of few-shot GAN transfer.

Chapter 07 (fine-tuning), section 9 adapts this generator to nines from about twenty
images (``genlab.finetune.gan_transfer``). The nines are left out of pretraining on
purpose: the generator has never drawn one, so whatever nines it makes afterwards were
learned from the few-shot set.

``python -m genlab.pretrained build dcgan-digits-0to8`` retrains it by the recipe of
:mod:`genlab.recipes.dcgan_digits_0to8`
(about 70 CPU seconds on one core) with ``genlab.train.gan_digits.train_gan_digits``,
writes the generator and the discriminator into one safetensors file
(``generator.*`` and ``discriminator.*`` keys, about 0.34 MB) and records its SHA-256 in
``registry.json`` (only this entry is rewritten). :func:`load_dcgan_digits_0to8` checks
the hash before reading a tensor.

Reproducibility: the build runs on one thread with seeded generators and deterministic
algorithms, so a rebuild on the same machine gives the same bytes. Unlike the feature
network (``genlab.pretrained.digits_features``), GAN training is chaotic: a difference of
1e-6 in one initial weight grows to about 3e-2 after 300 steps (measured), so other CPUs,
whose float32 kernels round differently, may produce a different (equally good) file.
Training in float64 would not fix that and costs 2.8x the time, so the GAN trains in
float32. What the course relies on is the shipped file, and its hash is checked at load.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
from genlab.pretrained import store
from genlab.pretrained.store import ChecksumError, package_dir

__all__ = ["ChecksumError", "load_dcgan_digits_0to8", "load_from", "verify"]

NAME = "dcgan-digits-0to8"
FILENAME = "dcgan_digits_0to8.safetensors"
REBUILD = store.rebuild_command(NAME)


def verify(folder: str | Path | None = None) -> Path:
    """Check the checkpoint's SHA-256 against the registry; return its path.

    Raises ``FileNotFoundError`` when the file or its registry entry is missing and
    :class:`ChecksumError` when the bytes differ from what was recorded.
    """
    return store.verify(NAME, folder)


def load_from(folder: str | Path, device: str | torch.device = "cpu",
              ) -> tuple[DigitsGenerator, DigitsDiscriminator]:
    """Load the pair in ``folder`` after verifying its hash (fresh, trainable modules)."""
    tensors, entry = store.load_verified(NAME, folder)
    recipe = entry["recipe"]
    generator = DigitsGenerator(recipe["latent_dim"], recipe["width"])
    discriminator = DigitsDiscriminator(recipe["width"])
    for prefix, module in (("generator.", generator), ("discriminator.", discriminator)):
        module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items()
                                if k.startswith(prefix)})
    return generator.to(device), discriminator.to(device)


def load_dcgan_digits_0to8(device: str | torch.device | None = None,
                           ) -> tuple[DigitsGenerator, DigitsDiscriminator]:
    """The shipped ``(generator, discriminator)`` pretrained on digits 0-8, hash-verified.

    generator: :class:`~genlab.models.dcgan_digits.DigitsGenerator` (``latent_dim=16``,
    ``width=32``), ``(n, 16)`` noise -> ``(n, 1, 8, 8)`` images in [-1, 1];
    discriminator: :class:`~genlab.models.dcgan_digits.DigitsDiscriminator`
    (``width=32``), images -> ``(n,)`` logits. Every call returns new modules with
    ``requires_grad`` on, ready to fine-tune, on ``device`` (default the CPU).
    """
    return load_from(package_dir(), device or "cpu")
