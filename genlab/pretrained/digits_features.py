"""The digits feature network: trained by a fixed recipe, shipped as safetensors, hash-checked.

``python -m genlab.pretrained build digits-features`` retrains it (about 15 s on one CPU
core; the recipe is :mod:`genlab.recipes.digits_features`) and rewrites
``digits_features.safetensors`` and its SHA-256 in ``registry.json``.
:func:`load_digits_features` verifies the file against the recorded hash before it reads
a single tensor, so a corrupted or swapped checkpoint fails loudly instead of silently
shifting every FID in the course.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from genlab.data import load_digits
from genlab.models.digits_classifier import DigitsClassifier
from genlab.pretrained import store
from genlab.pretrained.store import ChecksumError, package_dir, read_registry  # noqa: F401

NAME = "digits-features"
FILENAME = "digits_features.safetensors"
REBUILD = store.rebuild_command(NAME)


@torch.no_grad()
def test_accuracy(net: DigitsClassifier) -> float:
    """Accuracy of ``net`` on ``genlab.data.load_digits("test")`` (360 images)."""
    images, labels = load_digits("test")
    device = next(net.parameters()).device
    return (net(images.to(device)).argmax(1).cpu() == labels).float().mean().item()


def verify(folder: str | Path | None = None) -> Path:
    """Check the checkpoint's SHA-256 against the registry; return its path.

    Raises ``FileNotFoundError`` when the file or its registry entry is missing and
    :class:`ChecksumError` when the bytes differ from what was recorded.
    """
    return store.verify(NAME, folder)


def load_from(folder: str | Path, device: str | torch.device = "cpu") -> DigitsClassifier:
    """Load the checkpoint in ``folder`` after verifying its hash (eval mode, frozen)."""
    tensors, entry = store.load_verified(NAME, folder)
    recipe = entry["recipe"]
    net = DigitsClassifier(recipe["channels"], recipe["num_features"])
    net.load_state_dict(tensors)
    net.requires_grad_(False)
    return net.eval().to(device)


@lru_cache(maxsize=4)
def _cached(device: str) -> DigitsClassifier:
    return load_from(package_dir(), device)


def load_digits_features(device: str | torch.device | None = None) -> DigitsClassifier:
    """The shipped feature network, hash-verified, frozen, in eval mode on ``device``.

    ``device`` defaults to the CPU (the network is tiny; moving data is the cost). The
    same object is returned on later calls for the same device: do not modify it.
    """
    return _cached(str(torch.device(device or "cpu")))
