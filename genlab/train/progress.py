"""What every training loop shares: a progress bar, the per-step NaN guard, Ctrl-C.

The contract of genlab's loops (``train_gan``, ``train_gan_digits``, ``train_vae``,
``train_diffusion``, the chapter toys' ``train_denoiser`` and ``train_regression``):

- **progress**: ``progress=None`` (the default) shows a tqdm bar except while nbgrader
  executes the notebook (``NBGRADER_EXECUTION`` set) and under pytest; ``True``/``False``
  force it. See :func:`show_progress`.
- **NaN guard**: the loss of *every* step is checked before the update is applied; a
  non-finite value raises :class:`~genlab.train.history.DivergenceError`, whose
  ``.history`` keeps every step recorded so far.
- **Ctrl-C**: a ``KeyboardInterrupt`` during a step (the learner pressed the stop button)
  ends the loop cleanly: the loop *returns* its :class:`~genlab.train.history.History` so
  far with ``meta["interrupted"] = True`` (``False`` after a full run), after the same
  finishing work as a full run (a loop that keeps EMA weights copies them into the
  model). The same convention as :func:`genlab.finetune.loop.finetune`.
- **callback**: ``callback(step, history)`` after every step (steps counted as the loop
  logs them), e.g. a :class:`genlab.viz.LiveLossPlot`; a list of callbacks is called in
  order.
"""

from __future__ import annotations

import os

from genlab._checks import check_bool


def show_progress(progress: bool | None) -> bool:
    """Whether a loop shows its bar: ``progress`` if given, else on except under
    ``NBGRADER_EXECUTION`` (grading) and pytest (``PYTEST_CURRENT_TEST``)."""
    if progress is not None:
        return check_bool("progress", progress)
    return not (os.environ.get("NBGRADER_EXECUTION") or os.environ.get("PYTEST_CURRENT_TEST"))


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


def check_callback(callback):
    """The loop's callback: None, a callable, or a list/tuple of callables called in
    order (e.g. ``[EvalHook(...), LiveLossPlot(...)]``); returns one callable or None."""
    if callback is None:
        return None
    if isinstance(callback, (list, tuple)):
        for i, one in enumerate(callback):
            if not callable(one):
                raise TypeError(f"callback[{i}] must be callable, got {type(one).__name__}")
        callbacks = tuple(callback)

        def call_all(*args):
            for one in callbacks:
                one(*args)

        return call_all
    if not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, history) (or a list of "
                        f"such), got {type(callback).__name__}")
    return callback


__all__ = ["ProgressBar", "check_callback", "progress_bar", "show_progress"]
