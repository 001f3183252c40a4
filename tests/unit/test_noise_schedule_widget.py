"""genlab.widgets.noise_schedule: the pure functions behind the widget, and the widget itself."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlab.losses import diffusion as D  # noqa: E402
from genlab.widgets import noise_schedule as W  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_schedule_curves_are_the_library_schedule_and_its_log_snr():
    curves = W.schedule_curves("linear", 200, beta_start=1e-3, beta_end=0.05)
    abar = torch.cumprod(1 - torch.linspace(1e-3, 0.05, 200, dtype=torch.float64), 0)
    torch.testing.assert_close(curves["alphas_cumprod"], abar)
    torch.testing.assert_close(curves["log_snr"], torch.log(abar / (1 - abar)))
    assert curves["t"].tolist() == list(range(200))


def test_schedule_curves_reject_bad_parameters():
    with pytest.raises(ValueError, match="name must be one of"):
        W.schedule_curves("sigmoid")
    with pytest.raises(ValueError, match="max_beta"):
        W.schedule_curves("cosine", 100, max_beta=1.5)


def test_noised_digit_uses_the_same_noise_for_every_schedule():
    image = torch.rand(1, 8, 8) * 2 - 1
    lin = W.schedule_curves("linear", 100)["alphas_cumprod"]
    cos = W.schedule_curves("cosine", 100)["alphas_cumprod"]
    noise = torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(3))
    for abar in (lin, cos):
        expected = abar[40].sqrt() * image + (1 - abar[40]).sqrt() * noise
        torch.testing.assert_close(W.noised_digit(image, 40, abar, seed=3), expected.float())
    with pytest.raises(ValueError, match="timesteps must lie"):
        W.noised_digit(image, 100, lin)


def test_summary_reports_where_snr_drops_below_one():
    curves = W.schedule_curves("cosine", 1000)
    crossing = int((D.log_snr(curves["alphas_cumprod"]) < 0).nonzero()[0])
    assert f"SNR < 1 from t={crossing}" in W.summary(curves, 10)


def test_widget_builds_and_redraws_when_a_value_changes():
    image = torch.zeros(1, 8, 8)
    box = W.build(image=image, T=100)
    assert box.schedule.value == "cosine"
    first = box.state["image"].clone()
    box.t.value = 90  # more noise, same seed
    assert not torch.allclose(box.state["image"], first)
    box.schedule.value = "linear"
    torch.testing.assert_close(box.state["curves"]["alphas_cumprod"],
                               W.schedule_curves("linear", 100)["alphas_cumprod"])
    assert box.controls["s"].layout.display == "none"
    box.controls["beta_end"].value = 0.05
    assert float(box.state["curves"]["betas"][-1]) == pytest.approx(0.05, rel=1e-6)
