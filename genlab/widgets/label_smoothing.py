"""Label-smoothing widget (chapter 05_stabilization): what a smoothed real target does to D.

A slider sets the smoothing ``s`` (real target ``1 - s``, one-sided). Three panels:
the discriminator's loss on a real sample as a function of its logit, the gradient of that
loss, and the histogram of a small discriminator's outputs on real and fake points after
training with and without smoothing.

Everything the widget shows comes from the pure functions below, tested without a browser;
:func:`build` only wires a slider to them.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

import torch
from torch import nn

from genlab._checks import check_int, check_module, check_tensor
from genlab.data import sample_ring
from genlab.runmode import budget
from genlab.stabilize import _check_smoothing, d_loss_smoothed, real_loss_and_grad
from genlab.viz import stabilize as viz_stabilize


def sample_fakes(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fixed "fake" points for the demo: a blob at the ring's centre, shape ``(n, 2)``.

    They are easy to tell from the 8-mode ring, so an unsmoothed D grows over-confident.
    """
    check_int("n", n, minimum=1)
    return 0.35 * torch.randn(n, 2, generator=generator)


def small_discriminator() -> nn.Module:
    """A 2 -> 64 -> 64 -> 1 LeakyReLU MLP returning logits ``(n, 1)``."""
    return nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64),
                         nn.LeakyReLU(0.2), nn.Linear(64, 1))


def train_discriminator(smoothing: float = 0.0, n_steps: int = 300, batch_size: int = 256,
                        lr: float = 1e-2, seed: int = 0) -> dict[str, torch.Tensor | nn.Module]:
    """Train :func:`small_discriminator` on ring samples (real) against :func:`sample_fakes`.

    Loss: :func:`genlab.stabilize.d_loss_smoothed` with one-sided ``smoothing``; Adam.
    Returns ``{"model", "real_logits", "fake_logits"}`` with the logits ``(1024,)`` of
    fresh real and fake points after training (no grad). Deterministic for a ``seed``.
    """
    _check_smoothing(smoothing)
    check_int("n_steps", n_steps, minimum=0)
    check_int("batch_size", batch_size, minimum=1)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = small_discriminator()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    with _one_thread():
        for _ in range(n_steps):
            real = sample_ring(batch_size, generator=gen)
            fake = sample_fakes(batch_size, generator=gen)
            loss = d_loss_smoothed(model(real), model(fake), smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        real_logits = model(sample_ring(1024, generator=gen)).squeeze(1)
        fake_logits = model(sample_fakes(1024, generator=gen)).squeeze(1)
    return {"model": model, "real_logits": real_logits, "fake_logits": fake_logits}


def generator_gradient_norms(model: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """Norm of the non-saturating G loss's gradient at each fake point, shape ``(n,)``.

    ``-log sigmoid(D(x))`` differentiated with respect to ``x``: the signal a generator
    receives through D. An over-confident D (huge weights) hands G huge, erratic pushes.
    """
    check_module("model", model)
    check_tensor("fake", fake, ndim=2)
    x = fake.detach().clone().requires_grad_(True)
    g_loss = nn.functional.softplus(-model(x)).sum()
    (grad,) = torch.autograd.grad(g_loss, x)
    return grad.norm(dim=1)


@contextmanager
def _one_thread():
    """Run torch on one CPU thread: for a 64-unit MLP, more threads only add overhead
    (and on a busy machine, a lot of it). The previous setting is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=16)
def _trained(smoothing: float, n_steps: int) -> dict:
    return train_discriminator(smoothing, n_steps)


def build(smoothing: float = 0.1, n_steps: int | None = None):
    """The widget: a smoothing slider over the three panels. Returns a ``VBox``.

    ``n_steps`` (D training steps per smoothing value; default 300, 20 while grading).
    Each smoothing value is trained once and cached.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from IPython.display import display

    _check_smoothing(smoothing)
    n_steps = budget(300, 20) if n_steps is None else check_int("n_steps", n_steps, minimum=0)
    slider = widgets.FloatSlider(value=smoothing, min=0.0, max=0.45, step=0.05,
                                 description="smoothing", continuous_update=False,
                                 readout_format=".2f")
    out = widgets.Output()

    def redraw(change=None):
        s = round(float(slider.value), 2)
        with out:
            out.clear_output(wait=True)
            fig = viz_stabilize.plot_label_smoothing(s, _trained(0.0, n_steps),
                                                     _trained(s, n_steps))
            display(fig)
            plt.close(fig)

    slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, out])
    box.slider, box.output = slider, out  # handles for tests and notebooks
    return box
