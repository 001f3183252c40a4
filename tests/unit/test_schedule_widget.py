"""genlab.widgets.schedules: the pure functions behind the widget, and the widget itself."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from genlab import optim  # noqa: E402
from genlab.widgets import schedules  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_constant_schedule_keeps_the_rate():
    assert schedules.schedule_rates("constant", 20, lr=0.01) == pytest.approx([0.01] * 20)


def test_step_schedule_equals_torch_step_lr():
    rates = schedules.schedule_rates("step", 60, lr=0.1, step_size=25, gamma=0.1)
    assert rates[24] == pytest.approx(0.1) and rates[25] == pytest.approx(0.01)
    assert rates[50] == pytest.approx(0.001)


def test_warmup_cosine_schedule_is_genlab_warmup_cosine_over_the_whole_run():
    rates = schedules.schedule_rates("warmup_cosine", 100, lr=0.2, warmup_steps=10)
    expected = [0.2 * optim.warmup_cosine_multiplier(s, 10, 100) for s in range(100)]
    assert rates == pytest.approx(expected)


def test_one_cycle_schedule_peaks_at_lr_at_pct_start():
    rates = schedules.schedule_rates("one_cycle", 100, lr=0.05, pct_start=0.25)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=100, pct_start=0.25)
    expected = []
    for _ in range(100):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert rates == pytest.approx(expected)
    assert max(rates) == pytest.approx(0.05)
    assert rates.index(max(rates)) == pytest.approx(24, abs=1)


def test_plateau_schedule_drops_only_after_the_simulated_loss_stalls():
    rates = schedules.schedule_rates("plateau", 400, lr=1.0, factor=0.5, patience=10,
                                     plateau_at=200, noise=0.0)
    metric = schedules.simulated_metric(400, 200, noise=0.0)
    assert all(a > b for a, b in zip(metric, metric[1:]))  # noiseless: always improving
    # threshold 1e-4 (relative): improvements become too small near the floor
    assert rates[:150] == pytest.approx([1.0] * 150)
    assert rates[-1] < 1.0


def test_simulated_metric_is_deterministic_and_stalls_at_its_floor():
    a = schedules.simulated_metric(300, plateau_at=100, seed=3)
    assert a == schedules.simulated_metric(300, plateau_at=100, seed=3)
    assert a != schedules.simulated_metric(300, plateau_at=100, seed=4)
    assert a[0] > 1.1 and abs(sum(a[-50:]) / 50 - 0.2) < 0.02


def test_schedule_rates_rejects_unknown_kinds_and_parameters():
    with pytest.raises(ValueError, match="kind must be one of"):
        schedules.schedule_rates("exponential", 10)
    with pytest.raises(ValueError, match="has no parameter"):
        schedules.schedule_rates("constant", 10, gamma=0.5)
    with pytest.raises(ValueError, match="must be smaller than total_steps"):
        schedules.schedule_rates("warmup_cosine", 10, warmup_steps=10)
    with pytest.raises(ValueError, match="pct_start"):
        schedules.schedule_rates("one_cycle", 10, pct_start=1.5)


def test_plot_schedules_draws_one_line_per_curve():
    ax = schedules.plot_schedules({"a": [1.0, 0.5], "b": [0.2, 0.2]})
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="curves is empty"):
        schedules.plot_schedules({})


def test_widget_builds_and_reacts_to_changes():
    box = schedules.build(n_steps=120, lr=1e-3)
    label, rates = box.current()
    assert label.startswith("warmup_cosine") and len(rates) == 120
    box.controls["warmup_steps"].value = 30
    _, rates = box.current()
    assert rates[15] == pytest.approx(1e-3 * 15 / 30)
    box.add.click()
    box.kind.value = "step"
    assert box.controls["warmup_steps"].layout.display == "none"
    assert box.controls["gamma"].layout.display == ""
    box.add.click()
    assert len(box.curves) == 2
    box.kind.value = "plateau"
    _, rates = box.current()
    assert len(rates) == 120
    box.clear.click()
    assert box.curves == {}
