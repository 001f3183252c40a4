"""The one contract of genlab's training loops: callbacks, progress, Ctrl-C, NaN guard.

Every loop of the course (``train_gan``, ``train_gan_2d_many``, ``train_gan_digits``,
``train_vae``, ``train_diffusion``, chapter 04's ``train_denoiser`` and
``train_regression``, ``genlab.finetune.finetune`` and the loops built on them) is
written top to bottom in the same four parts::

    history, state = History(), LoopState(config=config)
    with TrainingRun(state, callbacks, total=steps, desc="VAE", progress=progress) as run:
        for step in range(1, steps + 1):        # 1. one update, counted from 1
            loss = ...                          #    forward pass, loss
            guard(history, step, loss=loss)     # 2. NaN guard, *before* the update
            ...                                 #    backward, optimizer step
            history.log(step, loss=loss)        # 3. log
            if run.step_done(step, loss=loss):  # 4. progress bar, callbacks, stop flag
                break
    ...                                         # finishing work (EMA copy, snapshot)

What every loop therefore does the same way:

- **steps** count the updates done: the first update is step 1, ``state.step`` is 0 in
  ``on_train_begin`` and ``n`` after the n-th update; ``history.log`` uses the same
  numbers (a GAN step is ``n_critic`` D updates and one G update).
- **callbacks**: :class:`Callback` objects (``on_train_begin``, ``on_step_end`` and
  ``on_train_end``; ``on_step_end`` may return ``{name: float}`` to log at that step). A
  plain function ``fn(step, history)`` (e.g. a :class:`genlab.viz.LiveLossPlot`) is
  wrapped by :func:`as_callbacks`. A callback ends the run early by setting
  ``state.stop = True`` (the loop finishes the step, then stops as after its last step);
  it never needs to raise.
- **progress**: one tqdm bar (:class:`ProgressBar`), shown unless ``progress=False``,
  while nbgrader grades (``NBGRADER_EXECUTION``) or under pytest.
- **NaN guard**: :func:`guard` raises :class:`~genlab.history.DivergenceError` (its
  ``.history`` keeps what was recorded) on a non-finite loss, checked at *every* step
  before the update is applied, with one message everywhere.
- **Ctrl-C**: a ``KeyboardInterrupt`` during a step ends the run cleanly: the loop
  *returns* its History with ``meta["interrupted"] = True`` after the same finishing work
  as a full run.
- **meta**: every History holds ``steps_done`` (updates completed), ``wall_seconds``,
  ``cpu_seconds`` (of the whole loop, callbacks included) and ``interrupted``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from genlab._checks import check_bool
from genlab.history import DivergenceError, History
from genlab.runmode import is_grading

#: The meta keys every loop's History holds.
META_KEYS = ("steps_done", "wall_seconds", "cpu_seconds", "interrupted")


@dataclass
class LoopState:
    """What callbacks see. ``step`` counts the updates done so far (0 before the first).

    ``history`` is the run's record; ``config`` its settings dataclass (or None);
    ``model``/``optimizer``/``scheduler``/``accelerator`` are set by loops that have one
    of each (:func:`genlab.finetune.finetune`); ``models`` holds named networks of loops
    with several (``{"generator": ..., "discriminator": ...}``); ``sample_fn(n)`` draws
    ``n`` samples where the loop can (the digits GAN), for evaluation callbacks.
    Set ``stop = True`` to end the run after the current step.
    """

    history: History = field(default_factory=History)
    config: Any = None
    step: int = 0
    model: Any = None
    optimizer: Any = None
    scheduler: Any = None
    accelerator: Any = None
    models: dict = field(default_factory=dict)
    sample_fn: Callable | None = None
    stop: bool = False
    extras: dict = field(default_factory=dict)


class Callback:
    """Hooks into a training loop; override what you need (all are no-ops here).

    ``on_train_begin`` and ``on_step_end`` may return ``{name: float}``, logged in the
    History at ``state.step``. ``after_backward`` is called by loops with one optimizer
    (:func:`genlab.finetune.finetune`) once the gradients exist, before clipping and the
    update: mask gradients there. ``on_train_end`` runs after the last step, after Ctrl-C
    and after a stop requested through ``state.stop`` (not after a DivergenceError).
    """

    def on_train_begin(self, state: LoopState) -> dict | None:
        return None

    def after_backward(self, state: LoopState) -> None:
        """Gradients are present (before clipping and ``optimizer.step``): mask them here."""

    def on_step_end(self, state: LoopState) -> dict | None:
        return None

    def on_train_end(self, state: LoopState) -> None:
        pass


class FunctionCallback(Callback):
    """A plain function ``fn(step, history)`` called after every step, as a Callback."""

    def __init__(self, fn: Callable[[int, History], Any]):
        self.fn = fn

    def on_step_end(self, state: LoopState) -> None:
        self.fn(state.step, state.history)


def as_callbacks(callback) -> list[Callback]:
    """A loop's ``callback`` argument as a list of :class:`Callback` objects.

    Accepts None, a Callback, a function ``fn(step, history)``, or a list/tuple of these
    (called in order, e.g. ``[EvalHook(...), LiveLossPlot(...)]``).
    """
    if callback is None:
        return []
    if isinstance(callback, (list, tuple)):
        out = []
        for i, one in enumerate(callback):
            if not (isinstance(one, Callback) or callable(one)):
                raise TypeError(f"callback[{i}] must be callable or a Callback, got "
                                f"{type(one).__name__}")
            out.append(one if isinstance(one, Callback) else FunctionCallback(one))
        return out
    if isinstance(callback, Callback):
        return [callback]
    if not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, history), a Callback, "
                        f"or a list of such, got {type(callback).__name__}")
    return [FunctionCallback(callback)]


# --- progress ------------------------------------------------------------------------------

def show_progress(progress: bool | None) -> bool:
    """Whether a loop shows its bar: ``progress`` if given, else on except under
    ``NBGRADER_EXECUTION`` (grading) and pytest (``PYTEST_CURRENT_TEST``)."""
    if progress is not None:
        return check_bool("progress", progress)
    return not (os.environ.get("NBGRADER_EXECUTION") or is_grading()
                or os.environ.get("PYTEST_CURRENT_TEST"))


class ProgressBar:
    """A tqdm bar over ``total`` steps, or nothing (``enabled=False``): ``update(**postfix)``
    advances one step and shows the values every ``postfix_every`` steps; ``close()``."""

    def __init__(self, total: int, desc: str, enabled: bool, postfix_every: int = 25):
        self.bar = None
        self.postfix_every = postfix_every
        self.count = 0
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False)

    def update(self, **postfix: float) -> None:
        self.count += 1
        if self.bar is None:
            return
        self.bar.update(1)
        if postfix and self.count % self.postfix_every == 0:
            self.bar.set_postfix({k: f"{float(v):.3g}" for k, v in postfix.items()})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def progress_bar(total: int, desc: str, progress: bool | None) -> ProgressBar:
    """The loop's :class:`ProgressBar` under the ``progress`` rule of :func:`show_progress`."""
    return ProgressBar(total, desc, show_progress(progress))


# --- the NaN guard ---------------------------------------------------------------------------

def _as_float(value) -> float:
    return float(value.detach()) if hasattr(value, "detach") else float(value)


def guard(history: History, step: int, **values) -> None:
    """Raise :class:`~genlab.history.DivergenceError` if a value is NaN or infinite.

    ``values`` are scalars or tensors (a tensor is bad if any element is); call it with
    the loss of step ``step`` before its update is applied. The message names the value
    and the step, and counts the steps recorded so far (the error's ``.history``).
    """
    for name, value in values.items():
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            if not bool(torch.isfinite(value).all()):
                history.check_finite(step, **{name: math.nan})
        else:
            history.check_finite(step, **{name: _as_float(value)})


# --- the run ---------------------------------------------------------------------------------

def _log(history: History, step: int, values) -> None:
    if values:
        if not isinstance(values, Mapping):
            raise TypeError(f"a callback returned {type(values).__name__}; return None or a "
                            "dict of floats to log")
        history.log(step, **{k: _as_float(v) for k, v in values.items()})


class TrainingRun:
    """The scaffolding around a loop's steps: bar, callbacks, timing, Ctrl-C, meta.

    ``with TrainingRun(state, callbacks, total, desc, progress) as run:`` sets
    ``meta["interrupted"] = False`` and ``steps_done = 0``, calls ``on_train_begin``;
    inside, the loop calls :meth:`step_done` after each update. Leaving the block records
    ``wall_seconds`` and ``cpu_seconds``, closes the bar, and, after a full run, a stop or
    Ctrl-C (which it swallows, setting ``meta["interrupted"] = True`` and printing one
    line that says so), calls ``on_train_end``. A DivergenceError (or any other error)
    propagates. ``show=False`` keeps the bar and that line off whatever ``progress`` says
    (a process that is not the main one).
    """

    def __init__(self, state: LoopState, callbacks=(), total: int = 0, desc: str = "training",
                 progress: bool | None = None, show: bool = True):
        self.state = state
        self.history = state.history
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback objects, got {type(cb).__name__}")
        self.bar = ProgressBar(total, desc, show and show_progress(progress))
        self.total, self.show = total, show

    def __enter__(self) -> "TrainingRun":
        meta = self.history.meta
        meta["interrupted"] = False
        meta["steps_done"] = self.state.step
        self.cpu_start, self.wall_start = time.process_time(), time.perf_counter()
        for cb in self.callbacks:
            _log(self.history, self.state.step, cb.on_train_begin(self.state))
        return self

    def step_done(self, step: int, **shown: float) -> bool:
        """Step ``step`` is applied and logged: advance the bar (showing ``shown``), call
        every callback's ``on_step_end``; True when a callback asked to stop."""
        self.state.step = step
        self.history.meta["steps_done"] = step
        self.bar.update(**shown)
        for cb in self.callbacks:
            _log(self.history, step, cb.on_step_end(self.state))
        return self.state.stop

    def __exit__(self, exc_type, exc, tb) -> bool:
        meta = self.history.meta
        meta["wall_seconds"] = time.perf_counter() - self.wall_start
        meta["cpu_seconds"] = time.process_time() - self.cpu_start
        self.bar.close()
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        if interrupted:
            meta["interrupted"] = True
            if self.show:
                print(f"Interrupted: stopped after {meta['steps_done']} of {self.total} "
                      "steps; the returned History keeps what was recorded.")
        if exc_type is None or interrupted:
            for cb in self.callbacks:
                cb.on_train_end(self.state)
        return interrupted


__all__ = ["META_KEYS", "Callback", "DivergenceError", "FunctionCallback", "LoopState",
           "ProgressBar", "TrainingRun", "as_callbacks", "guard", "progress_bar",
           "show_progress"]
