"""Learning-rate schedule widget (chapter 04_optimizers_schedules).

Pick a schedule (constant, step, warmup + cosine, one-cycle, or plateau reacting to a
simulated validation loss), set its parameters, and see the learning rate over the
steps; "add" keeps the curve so several schedules can be overlaid.

Everything the widget shows comes from the pure functions below (:func:`schedule_rates`,
:func:`simulated_metric`), tested without a browser; :func:`build` only wires controls to
them. Every curve is traced by :func:`genlab.optim.trace_lr` on torch's own schedulers.
"""

from __future__ import annotations

import torch

from genlab._checks import check_choice, check_int, check_mapping, check_positive
from genlab.optim import plateau, trace_lr, warmup_cosine

KINDS = ("constant", "step", "warmup_cosine", "one_cycle", "plateau")

# parameters each kind reads (the rest are ignored), with their defaults
DEFAULTS = {
    "constant": {},
    "step": {"step_size": 100, "gamma": 0.5},
    "warmup_cosine": {"warmup_steps": 50, "min_lr": 0.0},
    "one_cycle": {"pct_start": 0.3},
    "plateau": {"factor": 0.5, "patience": 10, "plateau_at": 200, "noise": 0.01, "seed": 0},
}


def simulated_metric(n_steps: int, plateau_at: int = 200, noise: float = 0.01,
                     seed: int = 0) -> list[float]:
    """A made-up validation loss, one value per step: it falls like ``exp(-step / tau)``
    and then stalls at a floor from about ``plateau_at`` on, with Gaussian noise of
    standard deviation ``noise`` (deterministic for a ``seed``).

    It lets a plateau schedule react without training anything.
    """
    check_int("n_steps", n_steps, minimum=1)
    check_int("plateau_at", plateau_at, minimum=1)
    check_positive("noise", noise, allow_zero=True)
    gen = torch.Generator().manual_seed(seed)
    tau = plateau_at / 5.0  # exp(-5) < 1 %: the decrease is over by ``plateau_at``
    steps = torch.arange(n_steps, dtype=torch.float64)
    values = 0.2 + torch.exp(-steps / tau) + noise * torch.randn(n_steps, generator=gen,
                                                                 dtype=torch.float64)
    return values.tolist()


def schedule_rates(kind: str, n_steps: int = 500, lr: float = 1e-3, **params) -> list[float]:
    """The learning rate at each of ``n_steps`` steps for schedule ``kind``.

    kind: one of :data:`KINDS`. params (see :data:`DEFAULTS`): ``step_size``, ``gamma``
    (StepLR); ``warmup_steps``, ``min_lr`` (:func:`genlab.optim.warmup_cosine`);
    ``pct_start`` (OneCycleLR, peak ``lr``); ``factor``, ``patience``, ``plateau_at``,
    ``noise``, ``seed`` (ReduceLROnPlateau fed :func:`simulated_metric`).
    Unknown parameters for ``kind`` raise ``ValueError``.
    """
    check_choice("kind", kind, KINDS)
    check_int("n_steps", n_steps, minimum=1)
    check_positive("lr", lr)
    unknown = sorted(set(params) - set(DEFAULTS[kind]))
    if unknown:
        raise ValueError(f"schedule {kind!r} has no parameter(s) {unknown}; "
                         f"it takes {sorted(DEFAULTS[kind])}")
    p = {**DEFAULTS[kind], **params}
    sched = torch.optim.lr_scheduler
    if kind == "constant":
        return trace_lr(lambda o: sched.ConstantLR(o, factor=1.0, total_iters=0), n_steps, lr)
    if kind == "step":
        check_int("step_size", p["step_size"], minimum=1)
        check_positive("gamma", p["gamma"])
        return trace_lr(lambda o: sched.StepLR(o, p["step_size"], gamma=p["gamma"]),
                        n_steps, lr)
    if kind == "warmup_cosine":
        return trace_lr(lambda o: warmup_cosine(o, p["warmup_steps"], n_steps, p["min_lr"]),
                        n_steps, lr)
    if kind == "one_cycle":
        if not 0.0 < p["pct_start"] < 1.0:
            raise ValueError(f"pct_start must be in (0, 1), got {p['pct_start']}")
        return trace_lr(lambda o: sched.OneCycleLR(o, max_lr=lr, total_steps=n_steps,
                                                   pct_start=p["pct_start"]), n_steps, lr)
    metric = simulated_metric(n_steps, p["plateau_at"], p["noise"], p["seed"])
    return trace_lr(lambda o: plateau(o, factor=p["factor"], patience=p["patience"]),
                    n_steps, lr, metrics=metric)


def label_for(kind: str, lr: float, **params) -> str:
    """A short legend label such as ``"warmup_cosine lr=0.001 warmup_steps=50"``."""
    check_choice("kind", kind, KINDS)
    check_positive("lr", lr)
    shown = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items() if k not in ("noise", "seed"))
    return f"{kind} lr={lr:g} {shown}".strip()


def plot_schedules(curves: dict[str, list[float]], ax=None, metric: list[float] | None = None,
                   logy: bool = False):
    """Overlay learning-rate curves ``{label: rates}``; optional simulated metric on a
    second axis (dashed grey). Returns the matplotlib Axes."""
    check_mapping("curves", curves, "a dict {label: rates}")
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("curves is empty: add at least one schedule")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    for label, rates in curves.items():
        ax.plot(range(len(rates)), rates, lw=1.5, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper right")
    if metric is not None:
        twin = ax.twinx()
        twin.plot(range(len(metric)), metric, color="grey", ls="--", lw=0.8)
        twin.set_ylabel("simulated val. loss", color="grey", fontsize=8)
    return ax


def build(n_steps: int = 500, lr: float = 1e-3):
    """The widget: schedule and parameter controls, "add" and "clear" buttons and a plot.

    The current choice is drawn live; "add" keeps it so the next ones overlay it.
    Returns a ``VBox`` with handles ``kind``, ``controls`` (name -> widget), ``add``,
    ``clear``, ``output`` and ``curves`` (the kept ``{label: rates}``), for tests.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    check_int("n_steps", n_steps, minimum=2)
    check_positive("lr", lr)
    style = {"description_width": "initial"}
    kind = widgets.Dropdown(options=KINDS, value="warmup_cosine", description="schedule")
    controls = {
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=-5, max=-1, description="lr",
                                     continuous_update=False, style=style),
        "step_size": widgets.IntSlider(value=100, min=1, max=n_steps, description="step_size",
                                       continuous_update=False, style=style),
        "gamma": widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05,
                                     description="gamma", continuous_update=False, style=style),
        "warmup_steps": widgets.IntSlider(value=min(50, n_steps - 1), min=0, max=n_steps - 1,
                                          description="warmup_steps", continuous_update=False,
                                          style=style),
        "pct_start": widgets.FloatSlider(value=0.3, min=0.05, max=0.95, step=0.05,
                                         description="pct_start", continuous_update=False,
                                         style=style),
        "factor": widgets.FloatSlider(value=0.5, min=0.05, max=0.95, step=0.05,
                                      description="factor", continuous_update=False,
                                      style=style),
        "patience": widgets.IntSlider(value=10, min=0, max=100, description="patience",
                                      continuous_update=False, style=style),
    }
    add = widgets.Button(description="add")
    clear = widgets.Button(description="clear")
    out = widgets.Output()
    kept: dict[str, list[float]] = {}

    def current():
        chosen = kind.value
        params = {name: controls[name].value for name in DEFAULTS[chosen] if name in controls}
        if chosen == "plateau":
            params["plateau_at"] = max(1, int(0.4 * n_steps))
        rate = float(controls["lr"].value)
        return label_for(chosen, rate, **params), schedule_rates(chosen, n_steps, rate, **params)

    def redraw(change=None):
        for name, control in controls.items():
            control.layout.display = ("" if name == "lr" or name in DEFAULTS[kind.value]
                                      else "none")
        label, rates = current()
        metric = (simulated_metric(n_steps, max(1, int(0.4 * n_steps)))
                  if kind.value == "plateau" else None)
        with out:
            out.clear_output(wait=True)
            ax = plot_schedules({**kept, label: rates}, metric=metric)
            display(ax.figure)
            plt.close(ax.figure)  # shown once; not again at the end of the cell

    def on_add(_):
        label, rates = current()
        kept[label] = rates
        redraw()

    def on_clear(_):
        kept.clear()
        redraw()

    kind.observe(redraw, names="value")
    for control in controls.values():
        control.observe(redraw, names="value")
    add.on_click(on_add)
    clear.on_click(on_clear)
    redraw()
    box = widgets.VBox([widgets.HBox([kind, add, clear]), *controls.values(), out])
    box.kind, box.controls, box.add, box.clear, box.output, box.curves = (
        kind, controls, add, clear, out, kept)
    box.current = current
    return box
