"""Device choice, seeding and the mixed-precision recipe: CUDA, else Apple MPS, else CPU;
``GENLAB_DEVICE`` overrides."""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from genlab._checks import check_device

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
    """Seed Python's ``random``, NumPy and torch (CPU and all GPUs)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextmanager
def deterministic_cpu():
    """Run the block on one CPU thread with torch's deterministic algorithms (restored after).

    What the builders of the shipped checkpoints train under, so a rebuild on the same
    machine gives the same bytes.
    """
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)


def mixed_precision(amp=False, device: torch.device | str | None = None) -> MixedPrecision:
    """The autocast context and gradient scaler recipe for ``device`` (default: ``get_device()``).

    The same recipe as :func:`genlab.stabilize.mixed_precision`, which chapter 05 teaches:
    CUDA gets fp16 with a gradient scaler (or bf16), the CPU bf16 autocast.
    """
    return choose_mixed_precision(amp, get_device() if device is None else device, stacklevel=3)


_AMP_CHOICES = (False, True, None, "off", "auto", "fp16", "bf16")


@dataclass(frozen=True)
class MixedPrecision:
    """The mixed-precision settings of one training run.

    ``dtype`` is ``torch.float16``, ``torch.bfloat16`` or ``None`` (off: plain fp32).
    ``autocast()`` gives the context to run forward passes and losses in;
    ``make_scaler()`` a fresh :class:`torch.amp.GradScaler`, enabled only for fp16 (bf16
    has fp32's exponent range and needs no loss scaling). Use one scaler per optimizer
    that steps on its own schedule (a GAN: one for G, one for D).
    """

    device_type: str
    dtype: torch.dtype | None

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16

    def autocast(self):
        """``torch.autocast`` for the device, or a no-op context when AMP is off."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self, init_scale: float = 2.0 ** 16) -> torch.amp.GradScaler:
        """A gradient scaler: active for fp16, a pass-through otherwise."""
        device = self.device_type if self.device_type in ("cuda", "cpu") else "cpu"
        return torch.amp.GradScaler(device, init_scale=init_scale, enabled=self.needs_scaler)

    def __str__(self) -> str:
        if not self.enabled:
            return f"fp32 on {self.device_type}"
        name = "fp16 + GradScaler" if self.needs_scaler else "bf16"
        return f"autocast {name} on {self.device_type}"


def choose_mixed_precision(amp=False, device: torch.device | str = "cpu", *,
                           stacklevel: int = 2) -> MixedPrecision:
    """Choose the mixed-precision recipe for ``device`` from one ``amp=`` option.

    amp: ``False``/``None``/``"off"`` (fp32), ``True``/``"auto"`` (CUDA: fp16 with a
    gradient scaler, the classic recipe of Micikevicius et al. 2018; CPU: bf16), ``"fp16"``
    or ``"bf16"``. fp16 on the CPU is not supported well by torch, so it falls back to
    bf16 with a warning; bf16 on a CUDA GPU that lacks it raises. On other devices (MPS)
    AMP is turned off with a warning. ``stacklevel`` points those warnings at the caller.
    """
    valid = amp is None or isinstance(amp, bool) or (
        isinstance(amp, str) and amp in ("off", "auto", "fp16", "bf16"))
    if not valid:
        raise ValueError(f"amp must be one of {list(_AMP_CHOICES)}, got {amp!r}")
    device_type = check_device("device", device).type
    if device_type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but torch sees no CUDA device: pass "
                         "device=genlab.get_device() (or 'cpu')")
    if amp in (False, None, "off"):
        return MixedPrecision(device_type, None)
    if device_type not in ("cuda", "cpu"):
        warnings.warn(f"mixed precision is not set up for {device_type!r}; running in fp32",
                      stacklevel=stacklevel)
        return MixedPrecision(device_type, None)
    if amp in (True, "auto"):
        amp = "fp16" if device_type == "cuda" else "bf16"
    if amp == "fp16" and device_type == "cpu":
        warnings.warn("fp16 autocast needs a CUDA GPU; falling back to bf16 autocast on the CPU",
                      stacklevel=stacklevel)
        amp = "bf16"
    if amp == "bf16" and device_type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("this CUDA GPU does not support bf16; use amp='fp16'")
    return MixedPrecision(device_type, torch.float16 if amp == "fp16" else torch.bfloat16)
