"""The shared fine-tuning loop (genlab.finetune.loop) against a plain PyTorch loop."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from genlab.finetune.loop import Callback, TrainConfig, every, finetune
from genlab.optim import warmup_cosine_multiplier
from genlab.train.history import DivergenceError

REPO = Path(__file__).resolve().parents[2]


def _data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.1
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def _mse(model, batch):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def _plain_adamw(model, batches, steps, lr, weight_decay=0.0, multiplier=lambda s: 1.0):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, multiplier)
    losses = []
    for step in range(steps):
        loss = _mse(model, batches[step % len(batches)])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def test_loop_equals_a_plain_adamw_loop_with_warmup_cosine_schedule():
    x, y = _data()
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    config = TrainConfig(steps=12, lr=0.05, weight_decay=0.01, warmup_steps=3,
                         schedule="cosine", cpu=True)
    ours, theirs = _model(), _model()
    history = finetune(ours, _mse, batches, config)
    expected = _plain_adamw(theirs, batches, 12, 0.05, 0.01,
                            lambda s: warmup_cosine_multiplier(s, 3, 12))
    # float64 end to end: the two loops do the same arithmetic in the same order
    torch.testing.assert_close(torch.tensor(history["loss"]), torch.tensor(expected),
                               rtol=1e-12, atol=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)
    lrs = [0.05 * warmup_cosine_multiplier(s, 3, 12) for s in range(12)]
    assert history["lr"] == pytest.approx(lrs, rel=1e-12)
    assert history.meta["steps_done"] == 12 and history.meta["num_processes"] == 1
    assert history.meta["trainable_parameters"] == 3 * 4 + 4 + 4 + 1


def test_gradient_accumulation_of_two_halves_equals_one_full_batch():
    x, y = _data()
    full, halves = _model(), _model()
    finetune(full, _mse, [(x, y)], TrainConfig(steps=5, lr=0.01, cpu=True))
    finetune(halves, _mse, [(x[:16], y[:16]), (x[16:], y[16:])],
             TrainConfig(steps=5, lr=0.01, grad_accum_steps=2, cpu=True))
    # equal-sized halves: the mean of the two half-batch means is the full-batch mean
    for p, q in zip(full.parameters(), halves.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_only_the_given_or_trainable_parameters_move():
    x, y = _data()
    model = _model()
    model[0].requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    history = finetune(model, _mse, [(x, y)], TrainConfig(steps=3, lr=0.1, cpu=True))
    torch.testing.assert_close(model[0].weight, frozen, rtol=0, atol=0)
    assert history.meta["trainable_parameters"] == 4 + 1


def test_clipping_logs_the_norm_before_clipping_and_bounds_the_update():
    x, y = _data()
    model = _model()
    reference = _model()
    loss = _mse(reference, (x, y))
    loss.backward()
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in reference.parameters()))
    history = finetune(model, _mse, [(x, y)],
                       TrainConfig(steps=1, lr=0.1, max_grad_norm=1e-3, cpu=True))
    assert history["grad_norm"][0] == pytest.approx(float(norm), rel=1e-9)


def test_dict_losses_log_their_extras_and_callbacks_see_gradients():
    x, y = _data()
    seen = []

    class Spy(Callback):
        def after_backward(self, state):
            seen.append(float(state.model[2].bias.grad.abs().sum()))

        def on_step_end(self, state):
            return {"step_seen": state.step}

    def loss_fn(model, batch):
        loss = _mse(model, batch)
        return {"loss": loss, "double": 2 * loss.detach()}

    history = finetune(_model(), loss_fn, [(x, y)], TrainConfig(steps=4, lr=0.01, cpu=True),
                       callbacks=[Spy()])
    assert history["double"] == pytest.approx([2 * v for v in history["loss"]], rel=1e-12)
    assert history["step_seen"] == [1, 2, 3, 4]
    assert len(seen) == 4 and all(v > 0 for v in seen)


def test_every_logs_at_start_every_n_and_at_the_end_in_eval_mode():
    x, y = _data()
    modes = []

    def evaluate(model):
        modes.append(model.training)
        return {"val": _mse(model, (x, y))}

    model = _model()
    history = finetune(model, _mse, [(x, y)], TrainConfig(steps=7, lr=0.01, cpu=True),
                       callbacks=[every(3, evaluate)])
    assert history.steps["val"] == [0, 3, 6, 7]
    assert modes == [False] * 4 and model.training


def test_a_function_of_the_step_can_supply_batches():
    x, y = _data()
    calls = []

    def batch(i):
        calls.append(i)
        return x[i % 4 * 8:(i % 4 + 1) * 8], y[i % 4 * 8:(i % 4 + 1) * 8]

    finetune(_model(), _mse, batch, TrainConfig(steps=3, grad_accum_steps=2, cpu=True))
    assert calls == list(range(6))


def test_a_diverging_run_raises_and_keeps_its_history():
    x, y = _data()

    def loss_fn(model, batch):
        loss = _mse(model, batch)
        return loss if len(calls) < 5 else loss * float("nan")

    calls = []

    class Count(Callback):
        def on_step_end(self, state):
            calls.append(state.step)

    with pytest.raises(DivergenceError, match="step 6") as info:
        finetune(_model(), loss_fn, [(x, y)], TrainConfig(steps=20, cpu=True),
                 callbacks=[Count()])
    assert len(info.value.history["loss"]) == 5
    assert info.value.history.meta["steps_done"] == 5


def test_ctrl_c_returns_what_was_recorded():
    x, y = _data()
    count = {"n": 0}

    def loss_fn(model, batch):
        count["n"] += 1
        if count["n"] == 4:
            raise KeyboardInterrupt
        return _mse(model, batch)

    model = _model()
    history = finetune(model, loss_fn, [(x, y)], TrainConfig(steps=10, cpu=True))
    assert history.meta["interrupted"] is True
    assert history.meta["steps_done"] == 3 and len(history["loss"]) == 3


@pytest.mark.parametrize("bad, message", [
    (dict(steps=0), "steps"), (dict(lr=-1.0), "lr"), (dict(betas=(0.9, 1.0)), "betas"),
    (dict(warmup_steps=10, steps=10), "warmup_steps"), (dict(schedule="step"), "schedule"),
    (dict(mixed_precision="fp8"), "mixed_precision"), (dict(max_grad_norm=-1.0), "max_grad_norm"),
    (dict(grad_accum_steps=0), "grad_accum_steps"), (dict(cpu="yes"), "cpu"),
])
def test_bad_settings_name_the_setting(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        TrainConfig(**bad)


def test_bad_arguments_give_clear_errors():
    x, y = _data()
    config = TrainConfig(steps=1, cpu=True)
    with pytest.raises(TypeError, match="params .* got a Module"):
        finetune(_model(), _mse, [(x, y)], config, params=_model())
    with pytest.raises(TypeError, match="one-shot iterator"):
        finetune(_model(), _mse, iter([(x, y)]), config)
    with pytest.raises(TypeError, match="scalar tensor"):
        finetune(_model(), lambda m, b: m(b[0]), [(x, y)], config)
    frozen = _model().requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        finetune(frozen, _mse, [(x, y)], config)


def test_bf16_on_the_cpu_runs_and_learns():
    x, y = _data()
    model = _model().float()
    batches = [(x.float(), y.float())]
    history = finetune(model, _mse, batches,
                       TrainConfig(steps=30, lr=0.02, mixed_precision="bf16", cpu=True))
    assert history["loss"][-1] < history["loss"][0]
    # a second run in the same process with another precision: the state was reset
    finetune(model, _mse, batches, TrainConfig(steps=1, cpu=True))


TWO_PROCESS_SCRIPT = r'''
import json, sys, torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from genlab.finetune.loop import TrainConfig, finetune

batch_size, out = int(sys.argv[1]), sys.argv[2]
g = torch.Generator().manual_seed(0)
x = torch.randn(64, 3, generator=g, dtype=torch.float64)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)
loss_fn = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])
history = finetune(model, loss_fn, loader, TrainConfig(steps=6, lr=0.05, cpu=True))
if history.meta.get("num_processes") and __import__("os").environ.get("RANK", "0") == "0":
    json.dump({"num_processes": history.meta["num_processes"], "loss": history["loss"],
               "params": [p.detach().flatten().tolist() for p in model.parameters()]},
              open(out, "w"))
'''


def test_two_processes_take_the_same_steps_as_one_with_the_same_global_batch(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    script = tmp_path / "run.py"
    script.write_text(TWO_PROCESS_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(REPO)}
    env.pop("PYTEST_CURRENT_TEST", None)
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(script), "8",
                          str(tmp_path / "two.json")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, str(script), "16", str(tmp_path / "one.json")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two_run = json.loads((tmp_path / "two.json").read_text())
    one_run = json.loads((tmp_path / "one.json").read_text())
    assert two_run["num_processes"] == 2 and one_run["num_processes"] == 1
    # float64: DDP's all-reduce averages two half-batch gradients, which differs from the
    # one-process mean over 16 rows only by rounding order (~1e-16 relative per step)
    torch.testing.assert_close(torch.tensor(two_run["loss"]), torch.tensor(one_run["loss"]),
                               rtol=1e-9, atol=1e-12)
    for p, q in zip(two_run["params"], one_run["params"]):
        torch.testing.assert_close(torch.tensor(p), torch.tensor(q), rtol=1e-9, atol=1e-12)
