"""Device choice and seeding: CUDA, else Apple MPS, else CPU; ``GENLAB_DEVICE`` overrides."""

from __future__ import annotations

import os
import random

import torch

_VALID_PREFIXES = ("cpu", "cuda", "mps")


def get_device() -> torch.device:
    """Return the device the course runs on.

    Order: ``$GENLAB_DEVICE`` if set (e.g. ``"cpu"``, ``"cuda:1"``), else CUDA when
    available, else MPS when available, else CPU. An override naming a device that
    is not available raises ``RuntimeError`` instead of silently falling back.
    """
    override = os.environ.get("GENLAB_DEVICE", "").strip()
    if override:
        if not override.startswith(_VALID_PREFIXES):
            raise ValueError(
                f"GENLAB_DEVICE must start with one of {_VALID_PREFIXES}, got {override!r}"
            )
        try:
            device = torch.device(override)
        except (RuntimeError, ValueError):
            raise ValueError(
                f"GENLAB_DEVICE must be a device such as 'cpu', 'cuda', 'cuda:1' or 'mps', "
                f"got {override!r}"
            ) from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("GENLAB_DEVICE asks for CUDA but torch sees no CUDA device")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("GENLAB_DEVICE asks for MPS but it is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy (if imported) and torch (CPU and all GPUs)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def mixed_precision(amp=False, device: torch.device | str | None = None):
    """The autocast context and gradient scaler recipe for ``device`` (default: ``get_device()``).

    A shortcut to :func:`genlab.stabilize.mixed_precision`, which chapter 05 teaches:
    CUDA gets fp16 with a gradient scaler (or bf16), the CPU bf16 autocast.
    """
    from genlab._checks import check_device
    from genlab.stabilize import mixed_precision as _mixed_precision

    return _mixed_precision(amp, get_device() if device is None else check_device("device", device))
