"""Periodic evaluation for training loops: FID and IS logged beside the losses.

A loss tells how a network does against its current opponent or target, not how good
its samples are. So every ``every`` steps an :class:`EvalHook` draws samples and writes
sample-quality numbers into the same :class:`~genlab.train.History`. It is a
:class:`~genlab.train.loop.Callback`: a loop that can sample sets ``state.sample_fn``
(``train_gan_digits`` does, with :func:`generator_sampler`), so::

    train_gan_digits(G, D, steps, callback=[EvalHook(every=200), LiveLossPlot()])

By hand, ``hook(step, sample_fn, history)`` with ``sample_fn(n) -> (n, 1, 8, 8)`` in
[-1, 1] does the same. Loops that hand over samples they drew themselves
(``on_snapshot(step, samples, history)``, as ``genlab.train.gan.train_gan`` does) use
:meth:`EvalHook.on_samples` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from genlab._checks import check_history, check_int
from genlab.metrics.fid import fid
from genlab.metrics.inception_score import digits_inception_score
from genlab.train.history import History
from genlab.train.loop import Callback, LoopState

SampleFn = Callable[[int], torch.Tensor]


def generator_sampler(generator: torch.nn.Module, latent_dim: int,
                      seed: int | None = 0) -> SampleFn:
    """``sample_fn(n)``: ``n`` images from ``generator`` on standard-normal noise.

    Runs under ``torch.no_grad`` in eval mode and restores the module's mode afterwards.
    With ``seed`` the same noise is used at every evaluation (the FID curve then shows
    the generator changing, not the noise); ``seed=None`` draws fresh noise.
    """
    check_int("latent_dim", latent_dim, minimum=1)

    def sample_fn(n: int) -> torch.Tensor:
        check_int("n", n, minimum=1)
        device = next(generator.parameters()).device
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, latent_dim, generator=rng).to(device)
        was_training = generator.training
        generator.eval()
        try:
            with torch.no_grad():
                return generator(z)
        finally:
            generator.train(was_training)

    return sample_fn


class EvalHook(Callback):
    """Every ``every`` steps: draw ``n_samples`` images, log digits-FID and digits-IS.

    Logs ``fid`` (against the ``real`` split, default the training split) and
    ``inception_score`` (one split) at that step, plus ``eval_seconds`` (wall time of the
    evaluation, so its cost is visible), and keeps the first ``keep_samples`` images as
    a snapshot ``(step, tensor)``. ``prefix`` is prepended to the series names, e.g.
    ``"ema_"``. As a loop's callback it samples with ``state.sample_fn``; by hand, call
    ``hook(step, sample_fn, history)`` after every optimizer step. It does nothing when
    ``step`` is not a multiple of ``every``.
    """

    def __init__(self, every: int, n_samples: int = 500, real: str = "train",
                 keep_samples: int = 16, prefix: str = ""):
        check_int("every", every, minimum=1)
        check_int("n_samples", n_samples, minimum=2)
        check_int("keep_samples", keep_samples, minimum=0)
        if real not in ("train", "test", "all"):
            raise ValueError(f"real must be 'train', 'test' or 'all', got {real!r}")
        self.every = every
        self.n_samples = n_samples
        self.real = real
        self.keep_samples = keep_samples
        self.prefix = prefix

    def evaluate(self, images: torch.Tensor) -> dict[str, float]:
        """``{"fid": ..., "inception_score": ...}`` of ``(n, 1, 8, 8)`` images."""
        return {
            f"{self.prefix}fid": fid(self.real, images),
            f"{self.prefix}inception_score": digits_inception_score(images).mean,
        }

    def on_step_end(self, state: LoopState) -> None:
        if state.step % self.every != 0:
            return
        if state.sample_fn is None:
            raise TypeError("EvalHook needs a loop that sets state.sample_fn (e.g. "
                            "train_gan_digits); with train_gan use on_snapshot=hook.on_samples")
        self(state.step, state.sample_fn, state.history)

    def __call__(self, step: int, sample_fn: SampleFn, history: History) -> None:
        if step % self.every != 0:
            return
        start = time.perf_counter()
        images = sample_fn(self.n_samples)
        if not isinstance(images, torch.Tensor) or images.shape != (self.n_samples, 1, 8, 8):
            raise ValueError(
                f"sample_fn({self.n_samples}) must return a tensor of shape "
                f"({self.n_samples}, 1, 8, 8), got "
                f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}"
            )
        self._record(step, images, history, start)

    def on_samples(self, step: int, samples: torch.Tensor, history: History) -> None:
        """Evaluate samples a loop already drew: ``on_snapshot(step, samples, history)``.

        For loops that call back with samples rather than a sampler, such as
        ``genlab.train.gan.train_gan(..., snapshot_every=N, n_snapshot=500,
        on_snapshot=hook.on_samples)``. The loop decides when; ``every`` and
        ``n_samples`` are not used. ``samples`` must be ``(n, 1, 8, 8)`` digits.
        """
        if not isinstance(samples, torch.Tensor) or samples.ndim != 4 or samples.shape[1:] != (1, 8, 8):
            raise ValueError(
                "samples must be a tensor of shape (n, 1, 8, 8), got "
                f"{tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__}"
            )
        self._record(step, samples, history, time.perf_counter())

    def _record(self, step: int, images: torch.Tensor, history: History, start: float) -> None:
        images = images.detach().float().cpu()
        if not torch.isfinite(images).all():
            # A diverged generator: record it instead of crashing the run's history.
            history.log(step, **{f"{self.prefix}fid": float("nan"),
                                 f"{self.prefix}inception_score": float("nan")})
            return
        values = self.evaluate(images)
        history.log(step, **values, **{f"{self.prefix}eval_seconds": time.perf_counter() - start})
        if self.keep_samples:
            history.snapshot(step, images[: self.keep_samples].clone())


def best_step(history: History, name: str = "fid", mode: str = "min") -> int:
    """The step at which series ``name`` was best (``mode`` "min" or "max").

    NaN entries are skipped; ties go to the earliest step. This is how to pick the
    checkpoint to keep from a run monitored with :class:`EvalHook`.
    """
    check_history("history", history)
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    values = history[name]
    steps = history.steps[name]
    candidates = [(v, s) for v, s in zip(values, steps) if v == v]
    if not candidates:
        raise ValueError(f"series {name!r} has no finite values to choose from")
    sign = 1.0 if mode == "min" else -1.0
    best_value = min(sign * v for v, _ in candidates)
    return next(s for v, s in candidates if sign * v == best_value)
