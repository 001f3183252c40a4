"""Training a denoising diffusion model: the loss of one batch and the loop around it.

One step (Ho et al. 2020, Algorithm 1): draw t uniformly in [0, T-1] and standard
normal noise, make x_t with :func:`~genlab.losses.diffusion.q_sample`, ask the network
for its prediction and take the loss against the target (``"epsilon"``, ``"v"`` or
``"x0"``), optionally with Min-SNR weights, or the hybrid loss when the network learns
its variance. ``train_digits_diffusion`` is the chapter's recipe for the 8x8 digits.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genlab import get_device, seed_everything
from genlab._checks import (check_choice, check_images, check_int, check_module, check_positive,
                            check_tensor, check_unit_interval)
from genlab.data import load_digits
from genlab.losses import diffusion as D
from genlab.losses.diffusion import make_alphas_cumprod  # its old home; chapters import it here
from genlab.models.unet import SmallUNet
from genlab.optim import make_optimizer
from genlab.train.history import History
from genlab.train.loop import LoopState, TrainingRun, as_callbacks, guard

LOSS_TYPES = ("simple", "hybrid")


def diffusion_loss(model, x0: torch.Tensor, alphas_cumprod: torch.Tensor, *,
                   prediction: str = "epsilon", labels: torch.Tensor | None = None,
                   loss_type: str = "simple", snr_gamma: float | None = None,
                   lambda_vlb: float = 0.001):
    """Loss of one batch ``x0`` (batch, C, H, W) for ``model(x_t, t, labels)``.

    Returns ``(loss, parts)``: the scalar to minimise and a dict of floats-as-tensors to
    log (``mse``, and ``vlb`` for the hybrid loss). ``snr_gamma`` turns on Min-SNR
    weights of the MSE (Hang et al. 2023; 5.0 in the paper). ``loss_type="hybrid"``
    needs a model whose output has 2C channels (``learned_variance=True``).
    """
    check_tensor("x0", x0, ndim=4)
    check_choice("loss_type", loss_type, LOSS_TYPES)
    check_choice("prediction", prediction, D.PREDICTIONS)
    T = len(alphas_cumprod)
    t = torch.randint(0, T, (len(x0),), device=x0.device)
    noise = torch.randn_like(x0)
    x_t = D.q_sample(x0, t, noise, alphas_cumprod)
    out = model(x_t, t, labels)
    weights = None
    if snr_gamma is not None:
        weights = D.min_snr_weights(t, alphas_cumprod, snr_gamma, prediction).to(x0.device)
    if loss_type == "simple":
        loss = D.simple_loss(out, x0, noise, t, alphas_cumprod, prediction, weights)
        return loss, {"mse": loss.detach()}
    l_simple, l_vlb = D.hybrid_loss_terms(out, x0, noise, x_t, t, alphas_cumprod, prediction)
    mse = (l_simple * weights).mean() if weights is not None else l_simple.mean()
    loss = mse + lambda_vlb * T * l_vlb.mean()
    return loss, {"mse": l_simple.mean().detach(), "vlb": l_vlb.mean().detach()}


def train_diffusion(model, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                    alphas_cumprod: torch.Tensor, prediction: str = "epsilon",
                    loss_type: str = "simple", snr_gamma: float | None = None,
                    lambda_vlb: float = 0.001, steps: int = 2000, batch_size: int = 128,
                    lr: float = 2e-3, optimizer: torch.optim.Optimizer | None = None,
                    lr_scheduler=None, grad_clip: float | None = 1.0, p_uncond: float = 0.1,
                    ema_decay: float | None = 0.995, log_every: int = 1, device=None,
                    progress: bool | None = None, callback=None) -> History:
    """Train ``model`` on ``images`` (n, C, H, W) in [-1, 1]; returns a :class:`History`.

    - ``labels`` (n,) int64: class-conditional training; each label is replaced by the
      model's ``null_label`` with probability ``p_uncond`` (classifier-free guidance).
    - ``optimizer`` defaults to AdamW(lr); ``lr_scheduler`` (a torch scheduler) is stepped
      after every optimizer step. ``grad_clip`` clips the global gradient norm.
    - ``ema_decay``: keep an exponential moving average of the weights (torch's
      ``AveragedModel``) and copy it into ``model`` at the end; None trains without.
      For short runs the average gives visibly cleaner samples.

    - ``progress``: a tqdm bar (None: on, except while grading and under pytest);
      ``callback``: Callbacks or functions ``fn(step, history)`` after every step (e.g. a
      :class:`genlab.viz.LiveLossPlot`), as in :mod:`genlab.train.loop`.

    Steps count from 1. Series (at step 1, every ``log_every`` steps after it, and the
    last): ``loss``, ``mse`` (and ``vlb`` for the hybrid loss), ``lr``. ``meta`` holds the
    settings, ``alphas_cumprod`` (CPU), the contract's keys and ``seconds`` (wall).
    The loss of *every* step (logged or not) is checked before its update: a non-finite
    one raises :class:`~genlab.train.history.DivergenceError` (the model keeps its
    last finite weights; no EMA copy). Ctrl-C stops the run, copies the EMA weights into
    ``model`` as a full run does, and returns the history so far with
    ``meta["interrupted"] = True`` (:mod:`genlab.train.loop`).
    """
    check_module("model", model)
    check_images("images", images)
    D._check_alphas_cumprod(alphas_cumprod)
    check_choice("prediction", prediction, D.PREDICTIONS)
    check_choice("loss_type", loss_type, LOSS_TYPES)
    check_int("steps", steps, minimum=0)
    check_int("batch_size", batch_size, minimum=1)
    check_int("log_every", log_every, minimum=1)
    check_positive("lr", lr)
    check_positive("lambda_vlb", lambda_vlb, allow_zero=True)
    if snr_gamma is not None:
        check_positive("snr_gamma", snr_gamma)
    if grad_clip is not None:
        check_positive("grad_clip", grad_clip)  # a negative max norm reverses every gradient
    check_unit_interval("p_uncond", p_uncond)
    if ema_decay is not None:
        check_unit_interval("ema_decay", ema_decay, low_open=True, high_open=True)
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got "
                        f"{type(optimizer).__name__}")
    callbacks = as_callbacks(callback)
    if labels is not None:
        check_tensor("labels", labels, ndim=1, floating=False)
        if len(labels) != len(images):
            raise ValueError(f"labels has {len(labels)} entries for {len(images)} images")
        if getattr(model, "null_label", None) is None:
            raise ValueError("labels given but the model has no null_label (build it with num_classes)")
    device = device if device is not None else next(model.parameters()).device
    model.to(device).train()
    images = images.to(device)
    labels = labels.to(device) if labels is not None else None
    optimizer = optimizer or make_optimizer(model.parameters(), "adamw", lr=lr, weight_decay=0.0,
                                             fast=True)
    ema = None
    if ema_decay is not None:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    history = History(meta=dict(prediction=prediction, loss_type=loss_type, snr_gamma=snr_gamma,
                                lambda_vlb=lambda_vlb, steps=steps, batch_size=batch_size,
                                T=len(alphas_cumprod), ema_decay=ema_decay,
                                alphas_cumprod=alphas_cumprod.detach().cpu()))
    state = LoopState(history, model=model, optimizer=optimizer, scheduler=lr_scheduler)
    with TrainingRun(state, callbacks, steps, f"diffusion ({prediction})", progress) as run:
        for step in range(1, steps + 1):
            # 1. a batch (labels dropped with probability p_uncond) and its loss
            idx = torch.randint(0, len(images), (batch_size,), device=device)
            batch_labels = None
            if labels is not None:
                batch_labels = labels[idx]
                drop = torch.rand(batch_size, device=device) < p_uncond
                batch_labels = torch.where(drop, torch.full_like(batch_labels, model.null_label), batch_labels)
            loss, parts = diffusion_loss(model, images[idx], alphas_cumprod, prediction=prediction,
                                         labels=batch_labels, loss_type=loss_type,
                                         snr_gamma=snr_gamma, lambda_vlb=lambda_vlb)
            guard(history, step, loss=loss)  # 2. every step, before the update
            lr_used = optimizer.param_groups[0]["lr"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if lr_scheduler is not None:
                lr_scheduler.step()
            if ema is not None:
                ema.update_parameters(model)
            # 3. log (step 1, then every log_every), call back
            if (step - 1) % log_every == 0 or step == steps:
                history.log(step, loss=loss, lr=lr_used, **parts)
            if run.step_done(step, loss=float(loss.detach())):
                break
    if ema is not None and int(ema.n_averaged) > 0:
        model.load_state_dict(ema.module.state_dict())
    history.meta["seconds"] = history.meta["wall_seconds"]  # the name chapter 03 prints
    return history


def train_digits_diffusion(prediction: str = "epsilon", *, steps: int = 600,
                           schedule: str = "cosine", T: int = 1000, loss_type: str = "simple",
                           base_channels: int = 16, conditional: bool = False,
                           batch_size: int = 128, lr: float = 3e-3, seed: int = 0, device=None,
                           **train_kwargs):
    """The chapter's recipe: a :class:`~genlab.models.unet.SmallUNet` on the digits' train split.

    The defaults (16 base channels, 600 steps of 128 images, cosine schedule, EMA 0.995)
    take about 40 CPU-seconds on one core and give recognisable digits; sample with
    :func:`genlab.models.samplers.ddim_sample` (50 steps) or ``ddpm_sample``.

    Returns ``(model, history)``; ``history.meta`` also records ``schedule`` and
    ``base_channels``. ``conditional`` trains with labels (and a "no label" share for
    classifier-free guidance); ``loss_type="hybrid"`` builds a learned-variance model.
    Extra keywords go to :func:`train_diffusion`.
    """
    device = device if device is not None else get_device()
    seed_everything(seed)
    images, labels = load_digits("train")
    alphas_cumprod = make_alphas_cumprod(schedule, T)
    model = SmallUNet(base_channels=base_channels, num_classes=10 if conditional else None,
                      learned_variance=loss_type == "hybrid").to(device)
    history = train_diffusion(model, images, labels if conditional else None,
                              alphas_cumprod=alphas_cumprod, prediction=prediction,
                              loss_type=loss_type, steps=steps, batch_size=batch_size, lr=lr,
                              device=device, **train_kwargs)
    history.meta.update(schedule=schedule, base_channels=base_channels, conditional=conditional,
                        seed=seed)
    model.eval()
    return model, history
