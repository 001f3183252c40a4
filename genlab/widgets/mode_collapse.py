"""Mode-collapse widget (chapter 01_gan_losses): pick a GAN setting, train live, watch.

A thin ipywidgets front over pure, tested functions:

- :func:`settings_to_kwargs` turns the widget's choices into :func:`train_gan_2d`
  keyword arguments (and rejects combinations the loop does not support);
- :func:`train_live` runs the training and calls back with the samples, the mode count
  and the history at every snapshot;
- :func:`draw_progress` draws the sample scatter over the true modes and both loss curves.

:func:`mode_collapse_widget` wires them to controls. A default run (1,200 steps of
64-unit MLPs) takes about 10 s of CPU time.
"""

from __future__ import annotations

from typing import Callable

from genlab._checks import check_choice, check_int, check_positive
from genlab.data.toy2d import toy_dataset
from genlab.losses.gan import GAN_LOSSES
from genlab.metrics.modes import mode_coverage
from genlab.train.gan import train_gan_2d
from genlab.viz import plot_series, scatter_2d

LOSSES = tuple(GAN_LOSSES)
DATASETS = ("ring", "grid")
NOISES = ("gaussian", "islands")
WIDGET_ARCH = dict(latent_dim=2, hidden=64, n_hidden=3, batch_size=256)
# the noise islands of the chapter's recipe (section 11): 128 Gaussian islands in 8-D
ISLANDS = dict(latent="mixture", latent_dim=8, n_components=128, component_std=0.05)


def settings_to_kwargs(loss: str = "nonsaturating", dataset: str = "ring",
                       spectral_norm: bool = False, g_lr: float = 1e-3, d_lr: float = 1e-3,
                       n_critic: int = 1, label_smoothing: bool = False,
                       steps: int = 1200, seed: int = 0, noise: str = "gaussian") -> dict:
    """Keyword arguments of :func:`genlab.train.gan.train_gan_2d` for the widget's choices.

    The optimizer follows the loss's paper (RMSprop for ``"wgan"``, Adam with betas
    (0, 0.9) for ``"wgan-gp"`` and ``"hinge"``, (0.5, 0.999) otherwise); the learning
    rates decay linearly to 0. ``label_smoothing`` sets ``real_target=0.9`` and only
    applies to the minimax losses (``ValueError`` otherwise). ``noise`` is
    ``"gaussian"`` (``N(0, I)`` in 2-D) or ``"islands"`` (the chapter's 128 noise islands
    in 8-D, :class:`genlab.models.latent.MixturePrior`).
    """
    check_choice("loss", loss, LOSSES)
    check_choice("dataset", dataset, DATASETS)
    check_positive("g_lr", g_lr)
    check_positive("d_lr", d_lr)
    check_int("n_critic", n_critic, minimum=1)
    check_int("steps", steps, minimum=1)
    check_choice("noise", noise, NOISES)
    if label_smoothing and loss not in ("minimax", "nonsaturating"):
        raise ValueError(f"label_smoothing applies to the minimax losses only, not to {loss!r}")
    optimizer, betas = "adam", (0.5, 0.999)
    if loss == "wgan":
        optimizer = "rmsprop"
    elif loss in ("wgan-gp", "hinge"):
        betas = (0.0, 0.9)
    return dict(dataset=dataset, loss=loss, seed=seed, steps=steps, optimizer=optimizer,
                betas=betas, g_lr=g_lr, d_lr=d_lr, n_critic=n_critic,
                spectral_norm=bool(spectral_norm), real_target=0.9 if label_smoothing else 1.0,
                lr_decay=True, **{**WIDGET_ARCH, **(ISLANDS if noise == "islands" else {})})


def train_live(kwargs: dict, on_update: Callable | None = None, n_updates: int = 10,
               n_samples: int = 1000):
    """Train with ``kwargs`` (from :func:`settings_to_kwargs`) and report as it goes.

    ``on_update(step, samples, coverage, history)`` is called ``n_updates`` times (the
    last one at the final step) with ``(n_samples, 2)`` samples from fixed noise and
    their :class:`~genlab.metrics.modes.ModeCoverage`. Returns the
    :class:`~genlab.train.gan.GANRun`.
    """
    check_int("n_updates", n_updates, minimum=1)
    centers, std = toy_dataset(kwargs["dataset"])

    def snapshot(step, samples, history):
        if on_update is not None:
            on_update(step, samples, mode_coverage(samples, centers, std), history)

    every = max(1, kwargs["steps"] // n_updates)
    return train_gan_2d(**kwargs, snapshot_every=every, n_snapshot=n_samples,
                        on_snapshot=snapshot)


def draw_progress(fig, samples, centers, coverage, history, title: str = ""):
    """Redraw ``fig`` (two axes): samples over the modes, and the D and G loss curves."""
    fig.clear()
    ax_scatter, ax_loss = fig.subplots(1, 2)
    lim = 1.5 if centers.abs().max() <= 1.5 else 5.5
    scatter_2d(samples, centers, ax=ax_scatter, lim=lim,
               title=f"{coverage.modes_covered}/{coverage.n_modes} modes, "
                     f"{100 * coverage.high_quality:.0f}% high quality")
    smooth = max(1, min(25, len(history["g_loss"]) // 20))
    plot_series(history, ["d_loss", "g_loss"], ax=ax_loss, smooth=smooth, title=title)
    fig.tight_layout()
    return fig


def mode_collapse_widget(steps: int = 1200, n_updates: int = 8, train_now: bool = False):
    """Build the widget: controls, a Train button, a live figure and a status line.

    Returns the ``ipywidgets.VBox``; its ``.controls`` dict holds the control widgets,
    ``.button`` the Train button and ``.status`` the status label, so it can be driven
    from code (``box.controls["loss"].value = "hinge"; box.button.click()``).
    The figure is redrawn ``n_updates`` times per run. ``train_now`` trains once with
    the defaults when built.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    controls = {
        "loss": widgets.Dropdown(options=LOSSES, value="nonsaturating", description="loss"),
        "dataset": widgets.ToggleButtons(options=DATASETS, value="ring", description="data"),
        "noise": widgets.ToggleButtons(options=NOISES, value="gaussian", description="noise"),
        "spectral_norm": widgets.Checkbox(value=False, description="spectral norm on D"),
        "label_smoothing": widgets.Checkbox(value=False, description="label smoothing (0.9)"),
        "g_lr": widgets.FloatLogSlider(value=1e-3, base=10, min=-5, max=-2, step=0.25,
                                       description="G lr", readout_format=".0e"),
        "d_lr": widgets.FloatLogSlider(value=1e-3, base=10, min=-5, max=-2, step=0.25,
                                       description="D lr", readout_format=".0e"),
        "n_critic": widgets.IntSlider(value=1, min=1, max=5, description="n_critic"),
        "steps": widgets.IntSlider(value=steps, min=100, max=4000, step=100,
                                   description="steps"),
    }
    button = widgets.Button(description="Train", button_style="primary")
    status = widgets.Label(value="")
    output = widgets.Output()

    def refresh(_change=None):
        smoothable = controls["loss"].value in ("minimax", "nonsaturating")
        controls["label_smoothing"].disabled = not smoothable
        if not smoothable:
            controls["label_smoothing"].value = False
        status.value = "press Train"

    def train(_button=None):
        settings = {name: control.value for name, control in controls.items()}
        try:
            kwargs = settings_to_kwargs(**settings)
        except ValueError as error:
            status.value = f"invalid setting: {error}"
            return
        centers, _ = toy_dataset(kwargs["dataset"])
        fig = plt.figure(figsize=(8, 3.4))
        plt.close(fig)  # drawn into the Output, not shown twice

        def on_update(step, samples, coverage, history):
            status.value = (f"step {step}/{kwargs['steps']}: {coverage.modes_covered}/"
                            f"{coverage.n_modes} modes, {100 * coverage.high_quality:.0f}% HQ")
            draw_progress(fig, samples, centers, coverage, history,
                          title=f"{kwargs['loss']} on {kwargs['dataset']}")
            with output:
                output.clear_output(wait=True)
                display(fig)

        button.disabled = True
        try:
            train_live(kwargs, on_update, n_updates=n_updates)
        except Exception as error:  # a diverged run is a result to show, not a crash
            status.value = f"training stopped: {error}"
        finally:
            button.disabled = False

    controls["loss"].observe(refresh, names="value")
    button.on_click(train)
    refresh()
    box = widgets.VBox([
        widgets.HBox([controls["loss"], controls["dataset"]]),
        widgets.HBox([controls["g_lr"], controls["d_lr"]]),
        widgets.HBox([controls["n_critic"], controls["steps"]]),
        widgets.HBox([controls["spectral_norm"], controls["label_smoothing"]]),
        controls["noise"],
        widgets.HBox([button, status]),
        output,
    ])
    box.controls, box.button, box.status, box.output = controls, button, status, output
    if train_now:
        train()
    return box
