"""Noise-schedule widget (chapter 03_diffusion_losses): schedule in, curves and a digit out.

Choose the linear or cosine schedule and its parameters; see alpha-bar_t and log-SNR(t),
with a marker at the chosen t, and a digit noised to that t with a fixed noise draw (so
only the schedule changes what you see). The widget is a thin front over the pure
functions :func:`schedule_curves` and :func:`noised_digit`, tested without a browser.
"""

from __future__ import annotations

import torch

from genlab._checks import check_int, check_tensor
from genlab.data import load_digits
from genlab.losses import diffusion as D
from genlab.viz.diffusion import plot_schedule_curves

DEFAULT_PARAMS = {
    "linear": {"beta_start": 1e-4, "beta_end": 0.02},
    "cosine": {"s": 0.008, "max_beta": 0.999},
}


def schedule_curves(schedule: str = "cosine", T: int = 1000, **params) -> dict[str, torch.Tensor]:
    """``{"t", "betas", "alphas_cumprod", "log_snr"}`` of a schedule, each ``(T,)``.

    ``params`` are the schedule's keyword arguments (``beta_start``/``beta_end`` or
    ``s``/``max_beta``), validated by :mod:`genlab.losses.diffusion`.
    """
    betas = D.make_beta_schedule(schedule, T, **params)
    abar = D.alphas_cumprod_from_betas(betas)
    return {"t": torch.arange(T), "betas": betas, "alphas_cumprod": abar,
            "log_snr": D.log_snr(abar)}


def noised_digit(image: torch.Tensor, t: int, alphas_cumprod: torch.Tensor,
                 seed: int = 0) -> torch.Tensor:
    """``image`` (1, H, W) in [-1, 1] noised to step ``t`` with the noise of ``seed``.

    The same seed gives the same noise for every schedule and t, so differences come
    from the schedule alone. Returns ``(1, H, W)``.
    """
    check_tensor("image", image, ndim=3)
    check_int("t", t, minimum=0)
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    return D.q_sample(image[None], torch.tensor([t]), noise[None], alphas_cumprod)[0]


def summary(curves: dict[str, torch.Tensor], t: int) -> str:
    """One line: alpha-bar, SNR and log-SNR at ``t``, and where SNR crosses 1.

    ``t`` must lie in [0, T-1] (a negative index would wrap to the last steps)."""
    if not isinstance(curves, dict) or not {"alphas_cumprod", "log_snr"} <= set(curves):
        raise TypeError("curves must be the dict of schedule_curves(...)")
    check_int("t", t, minimum=0)
    T = len(curves["alphas_cumprod"])
    if t >= T:
        raise ValueError(f"t must be in [0, {T - 1}] for a schedule of T={T} steps, got {t}")
    abar = float(curves["alphas_cumprod"][t])
    lam = float(curves["log_snr"][t])
    crossing = int((curves["log_snr"] < 0).nonzero()[0]) if (curves["log_snr"] < 0).any() else None
    return (f"t={t}: alpha-bar={abar:.4f}, SNR={abar / (1 - abar):.3g}, log-SNR={lam:+.2f}; "
            f"SNR < 1 from t={crossing}")


def build(image: torch.Tensor | None = None, T: int = 1000):
    """The widget. Returns a ``VBox`` with handles ``schedule``, ``controls``, ``t``,
    ``output`` and ``state`` (the last ``curves`` and noised ``image``), for tests.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    check_int("T", T, minimum=2)
    if image is None:
        image = load_digits("test")[0][0]
    check_tensor("image", image, ndim=3)
    kw = {"continuous_update": False, "style": {"description_width": "initial"}}
    schedule = widgets.Dropdown(options=list(DEFAULT_PARAMS), value="cosine", description="schedule")
    controls = {
        "beta_start": widgets.FloatLogSlider(value=1e-4, base=10, min=-5, max=-2,
                                             description="beta_start", **kw),
        "beta_end": widgets.FloatLogSlider(value=0.02, base=10, min=-3, max=-0.7,
                                           description="beta_end", **kw),
        "s": widgets.FloatLogSlider(value=0.008, base=10, min=-4, max=0, description="s", **kw),
        "max_beta": widgets.FloatSlider(value=0.999, min=0.5, max=0.999, step=0.001,
                                        description="max_beta", readout_format=".3f", **kw),
    }
    t = widgets.IntSlider(value=T // 2, min=0, max=T - 1, description="t", **kw)
    out = widgets.Output()
    state: dict = {}

    def redraw(change=None):
        name = schedule.value
        for key, control in controls.items():
            control.layout.display = "" if key in DEFAULT_PARAMS[name] else "none"
        params = {key: float(controls[key].value) for key in DEFAULT_PARAMS[name]}
        with out:
            out.clear_output(wait=True)
            try:
                curves = schedule_curves(name, T, **params)
            except ValueError as err:  # e.g. beta_start > beta_end: say so, keep the widget alive
                print(f"invalid schedule: {err}")
                return
            noisy = noised_digit(image, int(t.value), curves["alphas_cumprod"])
            state.update(curves=curves, image=noisy)
            fig, axes = plt.subplots(1, 3, figsize=(9, 2.6),
                                     gridspec_kw={"width_ratios": [3, 3, 1.4]})
            plot_schedule_curves({name: curves}, axes=axes[:2])
            axes[0].axvline(t.value, color="k", lw=0.7, ls="--")
            axes[1].axvline(t.value, color="k", lw=0.7, ls="--")
            img = ((noisy[0] + 1) / 2).clamp(0, 1)
            axes[2].imshow(img.numpy(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            axes[2].set_axis_off()
            axes[2].set_title(f"x_t at t={t.value}", fontsize=9)
            fig.tight_layout()
            display(fig)
            plt.close(fig)
            print(summary(curves, int(t.value)))

    for w in (schedule, t, *controls.values()):
        w.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([schedule, t]), widgets.HBox(list(controls.values())), out])
    box.schedule, box.controls, box.t, box.output, box.state = schedule, controls, t, out, state
    return box
