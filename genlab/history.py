"""What a training run hands back: its History (every step's values, kept per series, plus
snapshots) and, for the 2-D GAN, the :class:`GANRun` bundle.

This module sits at the bottom of the package (it imports nothing of genlab), so the
checkpoint loaders of :mod:`genlab.pretrained` rebuild a run without importing a loop.
``genlab.train.history`` and ``genlab.train`` re-export these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn


class DivergenceError(RuntimeError):
    """A training run produced a non-finite loss; ``history`` keeps what was recorded.

    (A Ctrl-C, by contrast, is not an error: the loops return their History with
    ``meta["interrupted"] = True``; see :mod:`genlab.train.loop`.)
    """

    def __init__(self, message: str, history: "History"):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """Per-step records of a training run.

    ``values["g_loss"]`` is a list of floats and ``steps["g_loss"]`` the step index of
    each entry, so series logged at different rates (D every step, G every
    ``n_critic`` steps, FID every 500) stay aligned. ``snapshots`` holds
    ``(step, object)`` pairs such as generated samples; ``meta`` holds settings and
    timings of the run, and ``interrupted`` (True when Ctrl-C stopped it early).
    """

    values: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, list[int]] = field(default_factory=dict)
    snapshots: list[tuple[int, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def log(self, step: int, **named_values: float) -> None:
        """Record one value per name at ``step`` (tensors are turned into floats)."""
        for name, value in named_values.items():
            value = float(value.detach()) if hasattr(value, "detach") else float(value)
            self.values.setdefault(name, []).append(value)
            self.steps.setdefault(name, []).append(int(step))

    def snapshot(self, step: int, obj: Any) -> None:
        """Keep ``obj`` (e.g. a ``(n, 2)`` sample tensor on the CPU) taken at ``step``."""
        self.snapshots.append((int(step), obj))

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.values:
            raise KeyError(f"no series {name!r}; recorded: {sorted(self.values)}")
        return self.values[name]

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def last(self, name: str) -> float:
        """The most recent value of series ``name``."""
        return self[name][-1]

    def names(self) -> list[str]:
        return sorted(self.values)

    def recorded_steps(self) -> int:
        """How many distinct steps have at least one value recorded."""
        return len({s for steps in self.steps.values() for s in steps})

    def check_finite(self, step: int, **named_values: float) -> None:
        """Raise :class:`DivergenceError` (keeping this history) if any value is NaN/inf.

        The message counts the distinct steps recorded in any series (``name`` itself may
        be a value the loop checks without logging it, e.g. a network's output)."""
        for name, value in named_values.items():
            value = float(value.detach()) if hasattr(value, "detach") else float(value)
            if not math.isfinite(value):
                kept = self.recorded_steps()
                raise DivergenceError(
                    f"{name} became {value} at step {step}; the run was stopped. "
                    f"The error's .history keeps the {kept} step{'s' if kept != 1 else ''} "
                    f"recorded so far. Try a lower learning rate or gradient clipping.",
                    self,
                )


class GANRun(NamedTuple):
    """What :func:`genlab.train.gan.train_gan_2d` (and the islands checkpoint's loader) return."""

    history: History
    generator: nn.Module
    discriminator: nn.Module
    centers: torch.Tensor
    std: float
    ema_generator: nn.Module | None = None  # the weight average, with ``ema_decay``
    latent_prior: object | None = None  # the prior the generator was trained on
