"""Small, fast experiments that show what an optimizer or schedule does (chapter 04_optimizers_schedules).

- :func:`dirac_gan_trajectory`: the Dirac GAN of Mescheder et al. 2018 (a generator that
  is one point ``theta``, a linear discriminator ``D(x) = psi * x``, real data at 0)
  trained with Adam: how far momentum (beta1) carries the pair from the equilibrium.
- :func:`clipped_weight_trajectory`: one critic weight clipped to ``[-c, c]`` whose best
  direction flips whenever the generator moves: how long momentum keeps pushing into
  the old wall (the reason WGAN uses RMSprop, Arjovsky et al. 2017, section 3).
- :func:`train_denoiser`: a deep MLP that denoises 8x8 digits, with any schedule; without
  warmup, Adam at lr 1e-2 makes its loss spike in the first steps.

Each runs in well under a second to a few seconds on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from genlab._checks import (check_betas as _check_betas, check_callable, check_finite_number,
                            check_int, check_positive)
from genlab.data import load_digits
from genlab.train.history import History
from genlab.train.loop import LoopState, TrainingRun, as_callbacks, guard


def dirac_gan_grads(theta: float, psi: float) -> tuple[float, float]:
    """Closed-form gradients of the non-saturating Dirac GAN at ``(theta, psi)``.

    D loss ``softplus(-psi * 0) + softplus(psi * theta)``:
    d/dpsi = ``theta * sigmoid(psi * theta)``.
    G loss ``softplus(-psi * theta)``: d/dtheta = ``-psi * sigmoid(-psi * theta)``.
    Returns ``(d g_loss / d theta, d d_loss / d psi)``.
    """
    check_finite_number("theta", theta)
    check_finite_number("psi", psi)
    sig = 1.0 / (1.0 + math.exp(-psi * theta))
    return -psi * (1.0 - sig), theta * sig


def dirac_gan_trajectory(beta1: float = 0.5, steps: int = 600, lr: float = 0.05,
                         theta0: float = 1.0, beta2: float = 0.999) -> torch.Tensor:
    """Train the Dirac GAN with ``torch.optim.Adam`` (betas ``(beta1, beta2)``) for both
    players, one D step then one G step; start at ``theta=theta0``, ``psi=0``.

    The equilibrium is ``theta = psi = 0``; plain gradient steps circle around it and
    momentum pushes the circle outwards. Returns the ``(steps + 1, 2)`` float64 tensor of
    ``(theta, psi)`` after each step (row 0: the start).
    """
    _check_betas((beta1, beta2))
    check_int("steps", steps, minimum=1)
    check_positive("lr", lr)
    theta = nn.Parameter(torch.tensor(float(theta0), dtype=torch.float64))
    psi = nn.Parameter(torch.tensor(0.0, dtype=torch.float64))
    g_opt = torch.optim.Adam([theta], lr=lr, betas=(beta1, beta2))
    d_opt = torch.optim.Adam([psi], lr=lr, betas=(beta1, beta2))
    path = [(theta.item(), psi.item())]
    softplus = nn.functional.softplus
    for _ in range(steps):
        d_loss = softplus(-psi * 0.0) + softplus(psi * theta.detach())
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        g_loss = softplus(-psi.detach() * theta)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        path.append((theta.item(), psi.item()))
    return torch.tensor(path, dtype=torch.float64)


def clipped_weight_trajectory(make_optimizer: Callable, steps: int = 200,
                              flip_every: int = 40, clip: float = 0.01,
                              noise: float = 0.5, seed: int = 0
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One clipped critic weight chasing a target direction that flips.

    The critic loss is ``-target_t * w``: it wants ``w`` at ``target_t * clip`` where
    ``target_t`` is +1 and changes sign every ``flip_every`` steps (the generator moved);
    the gradient gets Gaussian noise of std ``noise``. After each step ``w`` is clamped to
    ``[-clip, clip]`` as in WGAN. make_optimizer: ``params -> optimizer``.
    Returns ``(w, target)``, two ``(steps,)`` float64 tensors.
    """
    check_int("steps", steps, minimum=1)
    check_int("flip_every", flip_every, minimum=1)
    check_positive("clip", clip)
    check_positive("noise", noise, allow_zero=True)
    check_callable("make_optimizer", make_optimizer, "a function params -> optimizer")
    gen = torch.Generator().manual_seed(seed)
    w = nn.Parameter(torch.zeros((), dtype=torch.float64))
    optimizer = make_optimizer([w])
    ws, targets = [], []
    for step in range(steps):
        target = 1.0 if (step // flip_every) % 2 == 0 else -1.0
        grad_noise = noise * torch.randn((), generator=gen, dtype=torch.float64)
        w.grad = torch.tensor(-target, dtype=torch.float64) + grad_noise
        optimizer.step()
        with torch.no_grad():
            w.clamp_(-clip, clip)
        ws.append(w.item())
        targets.append(target)
    return torch.tensor(ws, dtype=torch.float64), torch.tensor(targets, dtype=torch.float64)


def agreement(w: torch.Tensor, target: torch.Tensor) -> float:
    """Share of steps at which the weight has the sign its current target asks for."""
    return float((torch.sign(w) == torch.sign(target)).double().mean())


def denoiser(depth: int = 6, width: int = 128) -> nn.Sequential:
    """A plain ReLU MLP ``64 -> width -> ... -> 64`` with ``depth`` linear layers, no
    normalization (which is what makes it sensitive to large early steps)."""
    check_int("depth", depth, minimum=2)
    check_int("width", width, minimum=1)
    layers: list[nn.Module] = [nn.Linear(64, width), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 64))
    return nn.Sequential(*layers)


def train_denoiser(make_scheduler: Callable | None = None, lr: float = 1e-2, steps: int = 300,
                   batch_size: int = 128, noise: float = 0.3, eval_every: int = 0,
                   seed: int = 0, device: torch.device | str = "cpu",
                   progress: bool | None = None, callback=None) -> History:
    """Train :func:`denoiser` with Adam (``lr``) to remove Gaussian noise (std ``noise``)
    from flattened 8x8 digits (``(batch, 64)`` in [-1, 1]); mean squared error.

    make_scheduler: ``optimizer -> scheduler`` or None; LambdaLR-style schedulers step
    after every optimizer step, a ``ReduceLROnPlateau`` steps on the validation loss at
    each evaluation. eval_every: evaluate on the test digits every that many steps (0:
    never; required > 0 for a plateau schedule). Logs ``loss``, ``lr`` every step and
    ``val_loss`` at evaluations. Deterministic for a ``seed`` on the CPU.
    The loop contract of :mod:`genlab.train.loop`: steps count from 1, ``progress`` bar,
    NaN guard on every step before its update
    (:class:`~genlab.train.history.DivergenceError`), ``callback`` (Callbacks or functions
    ``fn(step, history)``), Ctrl-C returns the history so far with
    ``meta["interrupted"] = True``.
    """
    check_positive("lr", lr)
    check_int("steps", steps, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_int("eval_every", eval_every, minimum=0)
    check_positive("noise", noise, allow_zero=True)
    if make_scheduler is not None:
        check_callable("make_scheduler", make_scheduler, "a function optimizer -> scheduler")
    x_train, _ = load_digits("train", flatten=True)
    x_val, _ = load_digits("test", flatten=True)
    x_train, x_val = x_train.to(device), x_val.to(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    val_noise = noise * torch.randn(x_val.shape, generator=gen).to(device)
    model = denoiser().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = make_scheduler(optimizer) if make_scheduler is not None else None
    is_plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if is_plateau and eval_every == 0:
        raise ValueError("a ReduceLROnPlateau schedule needs eval_every > 0")
    callbacks = as_callbacks(callback)
    history = History()
    history.meta.update(lr=lr, steps=steps, batch_size=batch_size, seed=seed)
    state = LoopState(history, model=model, optimizer=optimizer, scheduler=scheduler)
    with TrainingRun(state, callbacks, steps, "denoiser", progress) as run:
        for step in range(1, steps + 1):
            idx = torch.randint(len(x_train), (batch_size,), generator=gen).to(device)
            clean = x_train[idx]
            noisy = clean + noise * torch.randn(clean.shape, generator=gen).to(device)
            loss = nn.functional.mse_loss(model(noisy), clean)
            guard(history, step, loss=loss)  # before the update
            optimizer.zero_grad()
            loss.backward()
            history.log(step, loss=loss, lr=optimizer.param_groups[0]["lr"])
            optimizer.step()
            if scheduler is not None and not is_plateau:
                scheduler.step()
            if eval_every and step % eval_every == 0:
                with torch.no_grad():
                    val_loss = nn.functional.mse_loss(model(x_val + val_noise), x_val).item()
                history.log(step, val_loss=val_loss)
                if is_plateau:
                    scheduler.step(val_loss)
            if run.step_done(step, loss=history.last("loss")):
                break
    return history


def regression_problem(n_train: int = 1024, n_val: int = 1024, dim: int = 20,
                       noise: float = 0.5, seed: int = 0) -> dict[str, torch.Tensor]:
    """A noisy linear regression ``y = X w* + noise * eps``: ``{"x_train" (n_train, dim),
    "y_train" (n_train,), "x_val", "y_val", "w_true" (dim,)}`` (float32, seeded).

    Its validation loss cannot go below ``noise**2``; how close a run gets depends on how
    much minibatch noise its last steps still carry, i.e. on the final learning rate.
    """
    check_int("n_train", n_train, minimum=1)
    check_int("n_val", n_val, minimum=1)
    check_int("dim", dim, minimum=1)
    check_positive("noise", noise, allow_zero=True)
    gen = torch.Generator().manual_seed(seed)
    w_true = torch.randn(dim, generator=gen)
    x_train = torch.randn(n_train, dim, generator=gen)
    x_val = torch.randn(n_val, dim, generator=gen)
    y_train = x_train @ w_true + noise * torch.randn(n_train, generator=gen)
    y_val = x_val @ w_true + noise * torch.randn(n_val, generator=gen)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val,
            "w_true": w_true}


def train_regression(make_scheduler: Callable | None = None, lr: float = 0.1,
                     steps: int = 600, batch_size: int = 8, eval_every: int = 20,
                     seed: int = 0, progress: bool | None = None,
                     callback=None) -> History:
    """Fit :func:`regression_problem` (seed ``seed``) with Adam and minibatches of
    ``batch_size``; the schedule as in :func:`train_denoiser` (a plateau schedule steps
    on ``val_loss`` every ``eval_every`` steps). Logs ``loss`` and ``lr`` every step and
    ``val_loss`` (mean squared error on the validation set) every ``eval_every`` steps.
    The loop contract of :mod:`genlab.train.loop` (steps from 1, bar, NaN guard on every
    step, ``callback``, Ctrl-C returns the history so far).
    """
    check_positive("lr", lr)
    check_int("steps", steps, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_int("eval_every", eval_every, minimum=1)
    if make_scheduler is not None:
        check_callable("make_scheduler", make_scheduler, "a function optimizer -> scheduler")
    data = regression_problem(seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    w = nn.Parameter(torch.zeros(data["x_train"].shape[1]))
    optimizer = torch.optim.Adam([w], lr=lr)
    scheduler = make_scheduler(optimizer) if make_scheduler is not None else None
    is_plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    callbacks = as_callbacks(callback)
    history = History()
    history.meta.update(lr=lr, steps=steps, batch_size=batch_size, seed=seed)
    state = LoopState(history, optimizer=optimizer, scheduler=scheduler)
    with TrainingRun(state, callbacks, steps, "regression", progress) as run:
        for step in range(1, steps + 1):
            idx = torch.randint(len(data["x_train"]), (batch_size,), generator=gen)
            loss = ((data["x_train"][idx] @ w - data["y_train"][idx]) ** 2).mean()
            guard(history, step, loss=loss)  # before the update
            optimizer.zero_grad()
            loss.backward()
            history.log(step, loss=loss, lr=optimizer.param_groups[0]["lr"])
            optimizer.step()
            if scheduler is not None and not is_plateau:
                scheduler.step()
            if step % eval_every == 0:
                with torch.no_grad():
                    val_loss = ((data["x_val"] @ w - data["y_val"]) ** 2).mean().item()
                history.log(step, val_loss=val_loss)
                if is_plateau:
                    scheduler.step(val_loss)
            if run.step_done(step, loss=history.last("loss")):
                break
    return history
