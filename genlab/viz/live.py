"""A loss plot that redraws while a loop trains: G and D (or any series) in panels apart.

Every genlab loop calls a plain function callback as ``callback(step, history)`` after
each step (:mod:`genlab.train.loop`); a :class:`LiveLossPlot` is such a callback::

    plot = genlab.viz.LiveLossPlot({"D": ["d_loss"], "G": ["g_loss"]}, every=50)
    history = train_gan(GANConfig(steps=2000), sample_real, generator, discriminator,
                        callbacks=[plot])
    plot.close()                       # the final picture, all steps (plot.fig)

Each panel has its own y axis: a GAN's D and G losses live on different scales and move
against each other, so one axis would flatten one of them (chapter 06). In a notebook
the figure is shown once and updated in place (``IPython.display`` with a display id);
elsewhere (scripts, tests) it is redrawn off screen. While nbgrader grades
(``NBGRADER_EXECUTION``) only :meth:`LiveLossPlot.close` draws, so grading stays fast.
"""

from __future__ import annotations

import os

import torch

from genlab._checks import check_int
from genlab.viz.base import _plt, moving_average


class LiveLossPlot:
    """Live plot of a :class:`genlab.train.History`, one panel per group of series.

    panels: ``{"title": [series, ...]}`` (e.g. ``{"D": ["d_loss"], "G": ["g_loss"]}``), a
    list of series names (one panel each), or None (one panel per series found at the
    first update, ``lr`` and ``kl_dim*`` left out). every: redraw every that many steps.
    smooth: moving average over that many points (1 = raw). figsize: of the whole figure.
    ``draws`` counts the redraws (a notebook can check the plot was fed).
    """

    def __init__(self, panels: dict[str, list[str]] | list[str] | None = None, *,
                 every: int = 50, smooth: int = 1, figsize: tuple[float, float] | None = None,
                 title: str | None = None):
        check_int("every", every, minimum=1)
        check_int("smooth", smooth, minimum=1)
        if isinstance(panels, (list, tuple)):
            panels = {name: [name] for name in panels}
        if panels is not None:
            if not isinstance(panels, dict) or not panels or not all(
                    isinstance(v, (list, tuple)) and v and all(isinstance(s, str) for s in v)
                    for v in panels.values()):
                raise TypeError("panels must be a dict {title: [series names]}, a list of "
                                f"series names or None, got {panels!r}")
            panels = {str(k): list(v) for k, v in panels.items()}
        self.panels = panels
        self.every, self.smooth, self.figsize, self.title = every, smooth, figsize, title
        self.fig, self.axes, self._handle = None, None, None
        self.draws = 0
        self._last_step = None

    # -- the callback ------------------------------------------------------------------------
    def __call__(self, step: int, *args) -> None:
        """``callback(step, history)`` or ``callback(step, sample_fn, history)``."""
        if not args:
            raise TypeError("LiveLossPlot is called as callback(step, history)")
        history = args[-1]
        self._last_step = step
        self._history = history
        if step % self.every == 0 and not os.environ.get("NBGRADER_EXECUTION"):
            self.update(history)

    def update(self, history) -> None:
        """Redraw every panel from ``history`` now."""
        if not hasattr(history, "values") or not hasattr(history, "steps"):
            raise TypeError(f"history must be a genlab.train.History, got "
                            f"{type(history).__name__}")
        self._history = history
        if self.panels is None:
            names = [n for n in history.names() if n != "lr" and not n.startswith("kl_dim")]
            if not names:
                return
            self.panels = {name: [name] for name in names}
        if self.fig is None:
            self._make_figure()
        for ax, (panel, names) in zip(self.axes, self.panels.items()):
            ax.clear()
            for name in names:
                if name not in history:
                    continue
                xs = torch.tensor(history.steps[name], dtype=torch.float64)
                ys = torch.tensor(history[name], dtype=torch.float64)
                xs, ys = moving_average(xs, ys, self.smooth)
                ax.plot(xs.numpy(), ys.numpy(), lw=1, label=name)
            ax.set_title(panel, fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
            if len(names) > 1:
                ax.legend(fontsize=7)
        if self.title:
            self.fig.suptitle(self.title, fontsize=10)
        self.fig.tight_layout()
        self._show()
        self.draws += 1

    def close(self) -> None:
        """Draw the final state (every step recorded). The figure stays in ``self.fig``;
        nothing is returned, so ``plot.close()`` at the end of a cell shows no second copy."""
        if getattr(self, "_history", None) is not None:
            self.update(self._history)

    # -- drawing -----------------------------------------------------------------------------
    def _make_figure(self) -> None:
        plt = _plt()
        n = len(self.panels)
        figsize = self.figsize or (min(3.2 * n, 10), 2.6)
        self.fig, axes = plt.subplots(1, n, figsize=figsize, squeeze=False)
        self.axes = list(axes[0])
        # taken off pyplot's list: the notebook shows it through the display handle only,
        # not a second time when the cell ends
        plt.close(self.fig)

    def _show(self) -> None:
        shell = _ipython_kernel()
        import matplotlib

        if shell is None or matplotlib.get_backend().lower() == "agg":
            # a script, a test, or a headless kernel (MPLBACKEND=Agg): nothing to show
            self.fig.canvas.draw()
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)


def _ipython_kernel():
    """The running IPython kernel (a notebook), or None (a script, a test, a terminal)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "kernel") else None


__all__ = ["LiveLossPlot"]
