"""One fine-tuning loop for every method of chapters 07 and 08, on Hugging Face Accelerate.

Full fine-tuning, frozen layers, LoRA, adapters, prompt tuning, DreamBooth and textual
inversion differ in *which* parameters train and in the loss, not in the loop. So the loop
is written once, top to bottom, in the style of the Diffusers example scripts and nanoGPT:
a small settings dataclass, then prepare -> step -> guard -> log. Each optional feature
(evaluation curves, gradient masks, unfreezing schedules) is a :class:`Callback`, the
one protocol of :mod:`genlab.train.loop` (imported here, so ``genlab.finetune.loop``
keeps the names ``Callback`` and ``LoopState``), and the bar, Ctrl-C, timing and meta
keys are that contract's :class:`~genlab.train.loop.TrainingRun`.

Because the loop is Accelerate's (``Accelerator.prepare``, ``accelerator.backward``), the
same code runs on one CPU, one GPU, or several processes and GPUs under
``accelerate launch`` / ``torchrun``: a prepared ``DataLoader`` is sharded across processes
and gradients are averaged, so two processes with batch ``B`` each take the same step as
one process with batch ``2 B``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from genlab._checks import check_choice, check_int, check_positive
from genlab.optim import linear_warmup_multiplier, warmup_cosine_multiplier
from genlab.train.history import History
from genlab.train.loop import Callback, LoopState, TrainingRun, as_callbacks, guard

SCHEDULES = ("constant", "cosine", "linear")
MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass
class TrainConfig:
    """Settings of one fine-tuning run (defaults: AdamW as in Loshchilov & Hutter 2019).

    steps: optimizer updates (each of ``grad_accum_steps`` micro-batches).
    lr, weight_decay, betas, eps: AdamW's settings (used when no optimizer is given).
    warmup_steps, schedule: a linear warm-up from 0 over ``warmup_steps`` updates, then
    ``"constant"``, ``"cosine"`` (half cosine to 0 at ``steps``) or ``"linear"`` (to 0).
    max_grad_norm: clip the global gradient norm to this (None: no clipping).
    mixed_precision: ``"no"``, ``"bf16"`` or ``"fp16"``, passed to ``Accelerator``.
    log_every: record loss and extras every k updates (the NaN guard checks every step).
    seed: seeds torch, numpy and random through ``accelerate.utils.set_seed``.
    cpu: force the CPU even where a GPU is present.
    progress: a tqdm bar; None shows it except while grading and under pytest; never on
    a process but the main one.
    """

    steps: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: str = "constant"
    grad_accum_steps: int = 1
    max_grad_norm: float | None = None
    mixed_precision: str = "no"
    log_every: int = 1
    seed: int = 0
    cpu: bool = False
    progress: bool | None = None

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=1)
        check_positive("lr", self.lr)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        if (not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2
                or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                           and 0.0 <= b < 1.0 for b in self.betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        check_positive("eps", self.eps)
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be smaller than "
                             f"steps ({self.steps}): the warm-up would take the whole run")
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("grad_accum_steps", self.grad_accum_steps, minimum=1)
        if self.max_grad_norm is not None:
            check_positive("max_grad_norm", self.max_grad_norm)
        check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION)
        check_int("log_every", self.log_every, minimum=1)
        check_int("seed", self.seed, minimum=0)
        for name in ("cpu",):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(f"progress must be True, False or None, got {self.progress!r}")

    def lr_multiplier(self, step: int) -> float:
        """Factor on ``lr`` for update ``step`` (0-based), from the warm-up and schedule."""
        if self.schedule == "cosine":
            return warmup_cosine_multiplier(step, self.warmup_steps, self.steps)
        if step < self.warmup_steps:
            return linear_warmup_multiplier(step, self.warmup_steps)
        if self.schedule == "linear":
            return max(0.0, (self.steps - step) / (self.steps - self.warmup_steps))
        return 1.0


class _Every(Callback):
    def __init__(self, n: int, fn: Callable[[nn.Module], Mapping[str, float]], at_start: bool):
        check_int("n", n, minimum=1)
        if not callable(fn):
            raise TypeError(f"fn must be callable (model -> dict of floats), got "
                            f"{type(fn).__name__}")
        self.n, self.fn, self.at_start = n, fn, at_start

    def _evaluate(self, state: LoopState) -> dict:
        model = state.model
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                values = self.fn(model)
        finally:
            model.train(was_training)
        if not isinstance(values, Mapping):
            raise TypeError(f"the evaluation function must return a dict of floats, got "
                            f"{type(values).__name__}")
        return dict(values)

    def on_train_begin(self, state):
        return self._evaluate(state) if self.at_start else None

    def on_step_end(self, state):
        if state.step % self.n == 0 or state.step == state.config.steps:
            return self._evaluate(state)
        return None


def every(n: int, fn: Callable[[nn.Module], Mapping[str, float]], *,
          at_start: bool = True) -> Callback:
    """A callback logging ``fn(model) -> {name: float}`` every ``n`` updates and at the end.

    ``fn`` runs under ``torch.no_grad()`` with the model in eval mode (its mode is restored
    after). ``at_start`` also logs it at step 0, before any update: the baseline of a
    forgetting curve.
    """
    return _Every(n, fn, at_start)


# --------------------------------------------------------------------------------------
# Helpers the loop calls


def _make_accelerator(config: TrainConfig):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # Accelerate keeps one global state per process. A notebook runs many fine-tunings
    # with different precisions in one kernel, so a single-process run starts afresh;
    # under a launcher (WORLD_SIZE > 1) the state belongs to the launch and is kept.
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        AcceleratorState._reset_state(True)
    return Accelerator(cpu=config.cpu, mixed_precision=config.mixed_precision)


def _param_groups(params) -> list:
    """``params`` as a list of tensors or group dicts, checked (a Module is a common slip)."""
    if isinstance(params, nn.Module):
        raise TypeError("params must be an iterable of tensors or parameter-group dicts, "
                        "got a Module: pass model.parameters() or a list of groups")
    if isinstance(params, torch.Tensor) or not isinstance(params, Iterable):
        raise TypeError(f"params must be an iterable of tensors or parameter-group dicts, "
                        f"got {type(params).__name__}")
    groups = list(params)
    for group in groups:
        if isinstance(group, dict):
            if "params" not in group:
                raise ValueError("a parameter-group dict needs a 'params' entry")
        elif not isinstance(group, torch.Tensor):
            raise TypeError(f"params must hold tensors or dicts, got {type(group).__name__}")
    return groups


def _batch_stream(batches, accelerator):
    """Yield batches forever: a prepared DataLoader, a re-iterable (cycled), or step -> batch."""
    if isinstance(batches, DataLoader):
        loader = accelerator.prepare(batches)
        epoch = 0
        while True:
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
            yielded = False
            for batch in loader:
                yielded = True
                yield batch
            if not yielded:
                raise ValueError("batches (a DataLoader) yields no batch")
            epoch += 1
    elif callable(batches):
        micro = 0
        while True:
            yield _to_device(batches(micro), accelerator.device)
            micro += 1
    elif isinstance(batches, Iterable) and not isinstance(batches, (str, bytes)):
        if iter(batches) is batches:
            raise TypeError("batches is a one-shot iterator; pass a list, a DataLoader or a "
                            "function step -> batch so that it can be cycled")
        while True:
            yielded = False
            for batch in batches:
                yielded = True
                yield _to_device(batch, accelerator.device)
            if not yielded:
                raise ValueError("batches is empty")
    else:
        raise TypeError(f"batches must be a DataLoader, a list of batches or a function "
                        f"step -> batch, got {type(batches).__name__}")


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, Mapping):
        return type(batch)({k: _to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, (list, tuple)):
        moved = [_to_device(v, device) for v in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def _split_loss(output) -> tuple[torch.Tensor, dict]:
    """The loss to minimise and the extra scalars to log from ``loss_fn``'s output."""
    if isinstance(output, Mapping):
        if "loss" not in output:
            raise ValueError(f"loss_fn returned a dict without 'loss' (keys: {sorted(output)})")
        extras = {k: v for k, v in output.items() if k != "loss"}
        output = output["loss"]
    else:
        extras = {}
    if not isinstance(output, torch.Tensor) or output.ndim != 0:
        raise TypeError("loss_fn must return a scalar tensor (or a dict with one under "
                        f"'loss'), got {type(output).__name__}"
                        f"{' of shape ' + str(tuple(output.shape)) if isinstance(output, torch.Tensor) else ''}")
    return output, extras


def _as_float(value) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _log_callback_values(history: History, step: int, values) -> None:
    if values:
        history.log(step, **{k: _as_float(v) for k, v in values.items()})


# --------------------------------------------------------------------------------------
# The loop


def finetune(model: nn.Module, loss_fn: Callable, batches, config: TrainConfig, *,
             params=None, optimizer: torch.optim.Optimizer | None = None,
             callbacks: Sequence[Callback] = (), history: History | None = None) -> History:
    """Train ``model`` for ``config.steps`` updates of ``loss_fn(model, batch)``.

    model: any ``nn.Module``; it is trained in place (and moved to the run's device).
    loss_fn: ``(model, batch) -> scalar loss`` or a dict with the loss under ``"loss"``
    and other scalars to log (each averaged over the update's micro-batches).
    batches: a ``DataLoader`` (prepared, so sharded across processes), a list or other
    re-iterable of batches (cycled; every process sees the same ones), or a function
    ``micro_step -> batch``. Tensors (also inside dicts, lists, tuples) go to the device.
    params: what the optimizer updates: tensors or param-group dicts (discriminative
    learning rates); default: the model's parameters with ``requires_grad``. A parameter
    whose ``requires_grad`` is False gets no gradient, and AdamW skips it, so for gradual
    unfreezing pass everything that may ever train and toggle ``requires_grad`` in a
    callback.
    optimizer: a ready optimizer over ``params`` (default: AdamW from ``config``).
    callbacks: :class:`Callback` objects (or functions ``fn(step, history)``), called in
    order.
    history: a History to append to (default: a new one).

    Returns the History: per logged update ``loss`` (mean over micro-batches and
    processes), ``lr`` (of the first group), ``grad_norm`` (before clipping, when
    ``max_grad_norm`` is set) and the extras; ``meta`` holds ``steps_done``,
    ``cpu_seconds``, ``wall_seconds``, ``num_processes``, ``device``,
    ``trainable_parameters``, ``interrupted`` and the config. A non-finite loss raises
    :class:`~genlab.train.history.DivergenceError` (its ``.history`` keeps the record);
    Ctrl-C (KeyboardInterrupt) stops after the current step and returns the History so
    far with ``meta["interrupted"] = True``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function (model, batch) -> loss, got "
                        f"{type(loss_fn).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    callbacks = as_callbacks(list(callbacks))  # Callbacks, or functions fn(step, history)
    history = history if history is not None else History()

    from accelerate.utils import set_seed

    # 1. prepare: accelerator, seed, optimizer, schedule, data
    accelerator = _make_accelerator(config)
    set_seed(config.seed)
    if optimizer is None:
        groups = _param_groups(params if params is not None
                            else [p for p in model.parameters() if p.requires_grad])
        if not groups:
            raise ValueError("nothing to train: the model has no parameter with "
                             "requires_grad=True and no params were given")
        optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas),
                                      eps=config.eps, weight_decay=config.weight_decay)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    # The schedule is stepped by hand once per update: a prepared scheduler would step
    # once per process.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, config.lr_multiplier)
    was_training = model.training
    model.train()
    prepared_model, prepared_optimizer = accelerator.prepare(model, optimizer)
    stream = _batch_stream(batches, accelerator)
    trained = [p for group in optimizer.param_groups for p in group["params"]]
    state = LoopState(history, config, model=accelerator.unwrap_model(prepared_model),
                      optimizer=prepared_optimizer, scheduler=scheduler,
                      accelerator=accelerator)
    history.meta.update(
        config=asdict(config), num_processes=accelerator.num_processes,
        device=str(accelerator.device),
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad))

    try:
        with TrainingRun(state, callbacks, config.steps, "fine-tuning", config.progress,
                         show=accelerator.is_main_process) as run:
            for step in range(1, config.steps + 1):
                # 2. one update: accumulate micro-batches (no gradient sync until the last)
                k = config.grad_accum_steps
                loss_sum = None
                extra_sums: dict[str, float] = {}
                for micro in range(k):
                    batch = next(stream)
                    sync = micro == k - 1 or accelerator.num_processes == 1
                    with nullcontext() if sync else accelerator.no_sync(prepared_model):
                        loss, extras = _split_loss(loss_fn(prepared_model, batch))
                        accelerator.backward(loss / k)
                    # keep the loss's own precision (float64 runs compare exactly), but never
                    # sum in half precision
                    part = loss.detach() / k
                    part = part.float() if part.dtype in (torch.float16, torch.bfloat16) else part
                    loss_sum = part if loss_sum is None else loss_sum + part
                    for name, value in extras.items():
                        extra_sums[name] = extra_sums.get(name, 0.0) + _as_float(value) / k
                # 3. guard: every step, agreed across processes so that none waits alone
                bad = (~torch.isfinite(loss_sum)).float()
                if accelerator.num_processes > 1:
                    bad = accelerator.reduce(bad, reduction="sum")
                if bad.item() > 0:  # this process's loss, or NaN for another's
                    local = float(loss_sum)
                    guard(history, step, loss=local if not math.isfinite(local) else math.nan)
                for cb in callbacks:
                    cb.after_backward(state)
                grad_norm = None
                if config.max_grad_norm is not None:
                    grad_norm = accelerator.clip_grad_norm_(trained, config.max_grad_norm)
                lr_now = optimizer.param_groups[0]["lr"]
                prepared_optimizer.step()
                scheduler.step()
                prepared_optimizer.zero_grad(set_to_none=True)

                # 4. log and call back
                if step % config.log_every == 0 or step == config.steps:
                    mean_loss = accelerator.reduce(loss_sum, reduction="mean")
                    record = {"loss": mean_loss, "lr": lr_now, **extra_sums}
                    if grad_norm is not None:
                        record["grad_norm"] = grad_norm
                    history.log(step, **record)
                if run.step_done(step, loss=float(loss_sum)):
                    break
    finally:
        model.train(was_training)
    return history
