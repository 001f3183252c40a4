"""The label-smoothing widget's pure functions, and that the widget builds and reacts."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.widgets import label_smoothing as ls


def test_real_loss_and_grad_match_autograd_of_the_smoothed_cross_entropy():
    logits = torch.linspace(-6, 6, 25, dtype=torch.float64, requires_grad=True)
    s = 0.15
    loss, grad = ls.real_loss_and_grad(logits, s)
    closed_form = torch.nn.functional.softplus(-logits) + s * logits
    torch.testing.assert_close(loss, closed_form)
    (autograd,) = torch.autograd.grad(loss.sum(), logits)
    torch.testing.assert_close(grad, autograd)


def test_real_loss_gradient_is_zero_at_log_odds_of_the_target():
    for s in (0.05, 0.1, 0.3):
        optimum = torch.tensor([math.log((1 - s) / s)])
        _, grad = ls.real_loss_and_grad(optimum, s)
        assert abs(float(grad)) < 1e-6
    _, grad = ls.real_loss_and_grad(torch.tensor([10.0]), 0.0)
    assert 0 > float(grad) > -1e-4  # unsmoothed: still pushing at logit 10


def test_real_loss_rejects_bad_smoothing():
    with pytest.raises(ValueError, match="smoothing"):
        ls.real_loss_and_grad(torch.zeros(3), 0.5)


def test_smoothing_keeps_the_trained_discriminator_less_confident_on_real_data():
    plain = ls.train_discriminator(0.0, n_steps=30)
    smooth = ls.train_discriminator(0.2, n_steps=30)
    assert plain["real_logits"].shape == (1024,) and plain["fake_logits"].shape == (1024,)
    # both learned to separate real from fake ...
    assert float(plain["real_logits"].mean()) > float(plain["fake_logits"].mean())
    assert float(smooth["real_logits"].mean()) > float(smooth["fake_logits"].mean())
    # ... but the smoothed D's real outputs stay below the plain one's
    p_plain = torch.sigmoid(plain["real_logits"]).mean()
    p_smooth = torch.sigmoid(smooth["real_logits"]).mean()
    assert p_smooth < p_plain
    assert p_smooth < 0.85  # cannot usefully go beyond its target 0.8 on average


def test_train_discriminator_is_deterministic_for_a_seed():
    a = ls.train_discriminator(0.1, n_steps=5, seed=3)
    b = ls.train_discriminator(0.1, n_steps=5, seed=3)
    torch.testing.assert_close(a["real_logits"], b["real_logits"])


def test_generator_gradient_norms_match_autograd_per_point():
    model = ls.small_discriminator()
    fake = ls.sample_fakes(6)
    norms = ls.generator_gradient_norms(model, fake)
    assert norms.shape == (6,)
    x = fake[2:3].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(-torch.nn.functional.logsigmoid(model(x)).sum(), x)
    assert float(norms[2]) == pytest.approx(float(g.norm()), rel=1e-5)


def test_widget_builds_and_redraws_on_a_slider_change(monkeypatch):
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    from genlab.viz import stabilize as viz_stabilize

    calls = []
    original = viz_stabilize.plot_label_smoothing

    def spy(s, plain, smooth, **kw):
        calls.append(s)
        return original(s, plain, smooth, **kw)

    monkeypatch.setattr(viz_stabilize, "plot_label_smoothing", spy)
    box = ls.build(smoothing=0.1, n_steps=3)
    assert calls == [0.1]
    box.slider.value = 0.3
    assert calls == [0.1, 0.3]
    with pytest.raises(ValueError, match="smoothing"):
        ls.build(smoothing=0.6, n_steps=3)
