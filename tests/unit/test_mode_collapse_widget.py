"""The mode-collapse widget's pure functions, and the widget driven from code (no browser)."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from genlab.data.toy2d import ring_centers  # noqa: E402
from genlab.metrics.modes import mode_coverage  # noqa: E402
from genlab.train import History  # noqa: E402
from genlab.widgets import mode_collapse as mc  # noqa: E402


def test_settings_follow_each_losss_paper_for_the_optimizer():
    assert mc.settings_to_kwargs("wgan")["optimizer"] == "rmsprop"
    assert mc.settings_to_kwargs("wgan-gp")["betas"] == (0.0, 0.9)
    ns = mc.settings_to_kwargs("nonsaturating", label_smoothing=True, g_lr=1e-4, d_lr=4e-4)
    assert ns["real_target"] == 0.9 and ns["betas"] == (0.5, 0.999)
    assert (ns["g_lr"], ns["d_lr"]) == (1e-4, 4e-4)


def test_settings_reject_label_smoothing_outside_the_minimax_losses_and_bad_values():
    with pytest.raises(ValueError, match="label_smoothing"):
        mc.settings_to_kwargs("hinge", label_smoothing=True)
    with pytest.raises(ValueError, match="dataset"):
        mc.settings_to_kwargs(dataset="spiral")
    with pytest.raises(ValueError, match="n_critic"):
        mc.settings_to_kwargs(n_critic=0)


def test_islands_noise_selects_the_chapters_mixture_prior_and_trains():
    kwargs = mc.settings_to_kwargs(noise="islands", steps=3)
    assert (kwargs["latent"], kwargs["latent_dim"], kwargs["n_components"]) == ("mixture", 8, 128)
    assert mc.settings_to_kwargs()["latent_dim"] == 2 and "latent" not in mc.settings_to_kwargs()
    seen = []
    run = mc.train_live({**kwargs, "hidden": 8, "batch_size": 16},
                        lambda step, samples, cov, history: seen.append(samples.shape),
                        n_updates=1, n_samples=50)
    assert seen == [(50, 2)] and run.latent_prior.n_components == 128
    with pytest.raises(ValueError, match="noise"):
        mc.settings_to_kwargs(noise="uniform")


def test_train_live_reports_coverage_of_the_snapshot_it_shows():
    seen = []
    kwargs = {**mc.settings_to_kwargs("hinge", spectral_norm=True, steps=6), "hidden": 8,
              "batch_size": 16}
    run = mc.train_live(kwargs, lambda step, s, cov, h: seen.append((step, s, cov, h)),
                        n_updates=3, n_samples=50)
    assert [step for step, *_ in seen] == [2, 4, 6]
    step, samples, coverage, history = seen[-1]
    assert coverage == mode_coverage(samples, ring_centers(), 0.01)._replace(
        counts=coverage.counts)
    assert history is run.history and len(history["d_loss"]) == 6


def test_draw_progress_draws_samples_and_both_loss_curves():
    import matplotlib.pyplot as plt

    history = History()
    for step in range(1, 30):
        history.log(step, d_loss=1.0 / step, g_loss=float(step))
    samples = ring_centers().repeat(10, 1)
    fig = plt.figure()
    mc.draw_progress(fig, samples, ring_centers(), mode_coverage(samples, ring_centers(), 0.01),
                     history)
    scatter_ax, loss_ax = fig.axes
    assert "8/8 modes" in scatter_ax.get_title()
    assert [line.get_label() for line in loss_ax.get_lines()] == ["d_loss", "g_loss"]
    plt.close(fig)


def test_widget_builds_and_reacts_to_value_changes_and_training():
    box = mc.mode_collapse_widget(steps=100, n_updates=2)
    box.controls["label_smoothing"].value = True
    box.controls["loss"].value = "lsgan"
    assert box.controls["label_smoothing"].disabled and not box.controls["label_smoothing"].value
    box.controls["loss"].value = "nonsaturating"
    assert not box.controls["label_smoothing"].disabled
    box.controls["steps"].value = 100
    box.controls["dataset"].value = "grid"
    box.button.click()
    assert box.status.value.startswith("step 100/100:") and "/25 modes" in box.status.value
    assert not box.button.disabled
    box.controls["noise"].value = "islands"
    box.button.click()
    assert box.status.value.startswith("step 100/100:") and "/25 modes" in box.status.value
