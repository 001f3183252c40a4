"""Kernel-free previews of the course's four widgets: frames over a grid of their controls.

A static page cannot run Python, so each widget of ``genlab.widgets`` gets a preview: the
figure it would draw, precomputed with the same pure functions for every point of a small
grid of its controls, plus a caption (the widget's own status line where it has one). On
the page, ``static/widget_preview.js`` builds the controls from the preview's JSON spec and
swaps the picture when one moves.

A preview is a :class:`Preview`: its controls (each a list of values) and one frame per
combination of values, keyed by the values joined with ``"__"``. :func:`render_all` writes
the PNGs into a folder and returns the specs as plain JSON-ready dicts.

Grids (frames): mode collapse 6 losses x 8 training snapshots on the ring (one training run
per loss, 1,000 steps, as the chapter's widget; 48); noise schedule 2 schedules x 21 steps
t (42); learning-rate schedule 5 schedules x 5 settings of the schedule's main parameter
(25); label smoothing 10 values of the smoothing (10).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# Pictures are small: 72 dpi, re-encoded with a 96-colour palette (line plots and scatters
# lose nothing visible, and each frame stays around 10-30 kB).
DPI = 72
PALETTE_COLOURS = 96
KEY_SEPARATOR = "__"


@dataclass
class Control:
    """One control of a preview: ``kind`` is ``"select"`` (a drop-down) or ``"range"`` (a
    slider over ``values`` in order); ``labels`` are what the page shows for each value."""

    name: str
    kind: str
    values: list
    value: object
    labels: list[str] | None = None

    def spec(self) -> dict:
        labels = self.labels or [str(v) for v in self.values]
        return {"name": self.name, "kind": self.kind, "values": [str(v) for v in self.values],
                "labels": labels, "value": str(self.value)}


@dataclass
class Preview:
    """A widget's preview: ``controls`` and ``frames`` (key -> (PNG bytes, caption))."""

    widget: str          # module name in genlab.widgets
    title: str
    controls: list[Control]
    frames: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def add(self, key: str, fig, caption: str) -> None:
        """Keep ``fig`` (as PNG bytes; the figure is closed) and ``caption`` under ``key``."""
        self.frames[key] = (png_bytes(fig), caption)


def frame_key(*values) -> str:
    """The key of the frame for one value of each control, in the controls' order."""
    return KEY_SEPARATOR.join(str(v) for v in values)


def png_bytes(fig) -> bytes:
    """``fig`` as a small palette PNG (the figure is closed)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT).save(
        out, format="png", optimize=True)
    return out.getvalue()


# ---------------------------------------------------------------- the four widgets

def mode_collapse(steps: int = 1000, n_updates: int = 8) -> Preview:
    """Chapter 01: every loss trained once on the ring with the widget's defaults; the
    slider walks through the run's snapshots (the live widget redraws at the same ones)."""
    import matplotlib.pyplot as plt

    from genlab.data.toy2d import toy_dataset
    from genlab.widgets import mode_collapse as mc

    centers, _ = toy_dataset("ring")
    preview = Preview("mode_collapse", "mode collapse: loss and training step",
                      [Control("loss", "select", list(mc.LOSSES), "nonsaturating")])
    snapshot_steps: list[int] = []
    for loss in mc.LOSSES:
        kwargs = mc.settings_to_kwargs(loss=loss, dataset="ring", steps=steps)

        def on_update(step, samples, coverage, history, loss=loss):
            fig = plt.figure(figsize=(8, 3.4))
            mc.draw_progress(fig, samples, centers, coverage, history,
                             title=f"{loss} on ring")
            caption = (f"{loss}, step {step}/{steps}: {coverage.modes_covered}/"
                       f"{coverage.n_modes} modes, {100 * coverage.high_quality:.0f}% high quality")
            preview.add(frame_key(loss, step), fig, caption)
            if loss == mc.LOSSES[0]:
                snapshot_steps.append(step)

        mc.train_live(kwargs, on_update, n_updates=n_updates)
    preview.controls.append(Control("step", "range", snapshot_steps, snapshot_steps[-1]))
    return preview


def noise_schedule(T: int = 1000, t_every: int = 50) -> Preview:
    """Chapter 03: linear and cosine schedules (default parameters), t on a grid; the same
    three panels and summary line as the widget, with the chapter's first training digit."""
    import matplotlib.pyplot as plt

    from genlab.data import load_digits
    from genlab.viz.diffusion import plot_schedule_curves
    from genlab.widgets import noise_schedule as ns

    image = load_digits("train")[0][0]
    steps = sorted({*range(0, T, t_every), T - 1})
    preview = Preview("noise_schedule", "noise schedule: schedule and step t",
                      [Control("schedule", "select", list(ns.DEFAULT_PARAMS), "cosine"),
                       Control("t", "range", steps, T // 2)])
    for name, params in ns.DEFAULT_PARAMS.items():
        curves = ns.schedule_curves(name, T, **params)
        for t in steps:
            noisy = ns.noised_digit(image, t, curves["alphas_cumprod"])
            fig, axes = plt.subplots(1, 3, figsize=(9, 2.6),
                                     gridspec_kw={"width_ratios": [3, 3, 1.4]})
            plot_schedule_curves({name: curves}, axes=axes[:2])
            for ax in axes[:2]:
                ax.axvline(t, color="k", lw=0.7, ls="--")
            axes[2].imshow(((noisy[0] + 1) / 2).clamp(0, 1).numpy(), cmap="gray_r",
                           vmin=0, vmax=1, interpolation="nearest")
            axes[2].set_axis_off()
            axes[2].set_title(f"x_t at t={t}", fontsize=9)
            fig.tight_layout()
            preview.add(frame_key(name, t), fig, ns.summary(curves, t))
    return preview


# The schedule's main parameter and five of its values (the widget's slider ranges).
LR_SETTINGS = {
    "constant": ("(no parameter)", [None] * 5),
    "step": ("gamma", [0.1, 0.3, 0.5, 0.7, 0.9]),
    "warmup_cosine": ("warmup_steps", [0, 25, 50, 100, 200]),
    "one_cycle": ("pct_start", [0.1, 0.2, 0.3, 0.5, 0.7]),
    "plateau": ("patience", [0, 5, 10, 25, 50]),
}


def lr_schedules(n_steps: int = 500, lr: float = 1e-3) -> Preview:
    """Chapter 04: each schedule with five values of its main parameter (``LR_SETTINGS``);
    the plateau schedule reacts to the widget's simulated validation loss."""
    from genlab.widgets import schedules as sc

    preview = Preview("schedules", "learning-rate schedule: schedule and its main parameter",
                      [Control("schedule", "select", list(sc.KINDS), "warmup_cosine"),
                       Control("setting", "range", list(range(5)), 2,
                               labels=[f"setting {i + 1} of 5" for i in range(5)])])
    for kind in sc.KINDS:
        name, values = LR_SETTINGS[kind]
        for index, value in enumerate(values):
            params = {} if value is None else {name: value}
            metric = None
            if kind == "plateau":
                params["plateau_at"] = max(1, int(0.4 * n_steps))
                metric = sc.simulated_metric(n_steps, params["plateau_at"])
            label = sc.label_for(kind, lr, **params)
            ax = sc.plot_schedules({label: sc.schedule_rates(kind, n_steps, lr, **params)},
                                   metric=metric)
            ax.figure.tight_layout()
            caption = label if value is not None else f"{label} (constant has no parameter)"
            preview.add(frame_key(kind, index), ax.figure, caption)
    return preview


def label_smoothing(values: tuple[float, ...] = tuple(i / 20 for i in range(10)),
                    n_steps: int = 300) -> Preview:
    """Chapter 05: the widget's three panels for each smoothing of its slider (0 to 0.45)."""
    from genlab.viz import stabilize as viz_stabilize
    from genlab.widgets import label_smoothing as ls

    values = [round(v, 2) for v in values]
    preview = Preview("label_smoothing", "label smoothing: the smoothing s",
                      [Control("smoothing", "range", values, 0.1,
                               labels=[f"{v:.2f}" for v in values])])
    plain = ls.train_discriminator(0.0, n_steps)
    for s in values:
        smoothed = plain if s == 0.0 else ls.train_discriminator(s, n_steps)
        fig = viz_stabilize.plot_label_smoothing(s, plain, smoothed)
        caption = (f"smoothing {s:.2f}: real target {1 - s:.2f}; D trained {n_steps} steps "
                   "without and with it")
        preview.add(frame_key(s), fig, caption)
    return preview


PREVIEWS: dict[str, Callable[[], Preview]] = {
    "mode_collapse": mode_collapse,
    "noise_schedule": noise_schedule,
    "schedules": lr_schedules,
    "label_smoothing": label_smoothing,
}


def render(name: str, folder: Path) -> dict:
    """Compute the preview ``name`` (a key of :data:`PREVIEWS`), write its frames as
    ``folder/<name>/<key>.png`` and return its JSON spec (frame paths relative to folder)."""
    import matplotlib

    matplotlib.use("Agg")
    import torch

    if name not in PREVIEWS:
        raise ValueError(f"name must be one of {sorted(PREVIEWS)}, got {name!r}")
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and builds run two at once
    preview = PREVIEWS[name]()
    out = folder / name
    out.mkdir(parents=True, exist_ok=True)
    frames = {}
    for key, (png, caption) in preview.frames.items():
        file = f"{key}.png".replace("/", "_")
        (out / file).write_bytes(png)
        frames[key] = {"src": f"{name}/{file}", "caption": caption}
    return {"widget": name, "title": preview.title,
            "controls": [c.spec() for c in preview.controls], "frames": frames}
