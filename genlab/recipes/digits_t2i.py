"""Recipe and builder of the text-to-image model of chapter 08 (:mod:`genlab.pretrained.digits_t2i`).

``python -m genlab.pretrained build digits-t2i`` calls :func:`build`: it pretrains the
model (a few CPU minutes, one thread, deterministic algorithms), checks that the samples
follow their prompts at guidance 3, saves the Stable Diffusion layout into
``digits-t2i/`` and records every file's SHA-256 in ``registry.json``. The architecture
and the training settings are :data:`genlab.pretrained.digits_t2i.RECIPE` (the loader
builds the same architecture for :func:`~genlab.pretrained.digits_t2i.random_digits_t2i`).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genlab._checks import check_int
from genlab.data import load_digits
from genlab.device import deterministic_cpu
from genlab.finetune.guidance import guidance_sweep
from genlab.pretrained import store
from genlab.pretrained.digits_t2i import (FOLDER, MAX_LENGTH, NAME, RECIPE, TEMPLATES, T2IParts,
                                          caption, random_digits_t2i, save_parts)
from genlab.train.history import History
from genlab.train.loop import LoopState, TrainingRun, as_callbacks, guard

REBUILD = store.rebuild_command(NAME)
MIN_ACCURACY_W3 = 0.95


def all_captions() -> list[str]:
    """Every pretraining caption (10 digits x 5 templates, digit-major), then ``""``."""
    return [caption(k, j) for k in range(10) for j in range(len(TEMPLATES))] + [""]


def train_digits_t2i(recipe: dict | None = None, steps: int | None = None,
                     callback=None, verbose: bool = False) -> T2IParts:
    """Pretrain the text-to-image model from scratch by ``recipe`` (default :data:`RECIPE`).

    Epsilon-prediction MSE on the train split of the digits; each image gets the caption of
    its digit in a random template, replaced by ``""`` with probability
    ``caption_dropout``; UNet and text encoder train together with AdamW (linear warm-up,
    then constant, so the first k steps of a longer run are a k-step run) and gradient
    clipping; the returned model holds the EMA weights (torch ``AveragedModel``).
    ``steps`` overrides the recipe's (the determinism test runs a few). ``callback``:
    Callbacks or functions ``fn(step, history)`` of :mod:`genlab.train.loop`'s contract
    (steps from 1; ``state.extras["ema"]`` is the EMA ``ModuleDict``, for evaluation
    curves). Runs on one CPU thread with deterministic algorithms; returns CPU float32
    parts in eval mode; ``parts.history`` is the run's History (``loss`` per step, the
    contract's meta keys) and ``parts.train_cpu_seconds`` the loop's process time.
    """
    recipe = {**RECIPE, **(recipe or {})}
    steps = recipe["steps"] if steps is None else check_int("steps", steps, minimum=1)
    images, labels = load_digits("train")
    captions = all_captions()
    n_templates = len(TEMPLATES)
    with deterministic_cpu():
        parts = random_digits_t2i(recipe["seed"])
        ids = parts.tokenizer(captions, padding="max_length", max_length=MAX_LENGTH,
                              return_tensors="pt").input_ids
        nets = torch.nn.ModuleDict({"unet": parts.unet, "text_encoder": parts.text_encoder}).train()
        ema = AveragedModel(nets, multi_avg_fn=get_ema_multi_avg_fn(recipe["ema_decay"]))
        optimizer = torch.optim.AdamW(nets.parameters(), lr=recipe["lr"])
        warmup = recipe["warmup_steps"]
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
        generator = torch.Generator().manual_seed(recipe["seed"])
        alphas_cumprod = parts.noise_scheduler.alphas_cumprod
        history = History(meta={"steps": steps})
        state = LoopState(history, recipe, model=nets, optimizer=optimizer, scheduler=schedule,
                          extras={"ema": ema.module})
        start = time.process_time()
        with TrainingRun(state, as_callbacks(callback), steps, "digits-t2i",
                         progress=False) as run:
            for step in range(1, steps + 1):
                idx = torch.randint(0, len(images), (recipe["batch_size"],), generator=generator)
                template = torch.randint(0, n_templates, idx.shape, generator=generator)
                which = labels[idx] * n_templates + template
                dropped = torch.rand(idx.shape, generator=generator) < recipe["caption_dropout"]
                which = torch.where(dropped, len(captions) - 1, which)
                t = torch.randint(0, len(alphas_cumprod), idx.shape, generator=generator)
                noise = torch.randn((len(idx), 1, 8, 8), generator=generator)
                x_t = parts.noise_scheduler.add_noise(images[idx], noise, t)
                # Encode the 51 distinct captions once and pick rows: same values and
                # gradients as encoding the batch's captions one by one, fewer FLOPs.
                embeddings = parts.text_encoder(ids)[0][which]
                predicted = parts.unet(x_t, t, encoder_hidden_states=embeddings).sample
                loss = F.mse_loss(predicted, noise)
                guard(history, step, loss=loss)  # before the update
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(nets.parameters(), recipe["max_grad_norm"])
                optimizer.step()
                schedule.step()
                ema.update_parameters(nets)
                history.log(step, loss=loss)
                if verbose and step % 100 == 0:
                    print(f"step {step}/{steps}: loss {loss.item():.4f} "
                          f"({time.process_time() - start:.0f} CPU s)", flush=True)
                if run.step_done(step, loss=history.last("loss")):
                    break
        seconds = time.process_time() - start
        nets.load_state_dict(ema.module.state_dict())
    parts.unet.eval()
    parts.text_encoder.eval()
    parts.train_cpu_seconds = seconds
    parts.history = history
    return parts


def prompt_accuracies(parts: T2IParts, scales=(1.0, 3.0), n_per_class: int = 20,
                      seed: int = 0) -> dict[float, float]:
    """``{w: accuracy}``: the digits classifier's accuracy on ``n_per_class`` samples of
    "a handwritten digit k" per digit, DDIM 20 steps, eta 0, at each guidance scale."""
    rows = guidance_sweep(parts, scales, n_per_class, seed)
    return {row["guidance_scale"]: row["accuracy"] for row in rows}


def build(folder: str | Path | None = None, verbose: bool = True, steps: int | None = None,
          check: bool = True) -> Path:
    """Train, check the prompts work, save in ``folder/digits-t2i`` and record the hashes.

    ``folder`` defaults to the installed package (``genlab/pretrained``, what ``python -m
    genlab.pretrained build digits-t2i`` rewrites); tests pass a temporary folder and a
    few ``steps`` with ``check=False``. Raises ``RuntimeError`` when the classifier reads
    fewer than :data:`MIN_ACCURACY_W3` of the samples at guidance 3 as the prompted digit.
    Only this model's key of ``registry.json`` is rewritten.
    """
    folder = Path(folder) if folder is not None else store.package_dir()
    parts = train_digits_t2i(steps=steps, verbose=verbose)
    accuracies = {}
    if check:
        accuracies = prompt_accuracies(parts)
        if accuracies[3.0] < MIN_ACCURACY_W3:
            raise RuntimeError(
                f"at guidance 3 the classifier reads {accuracies[3.0]:.3f} of the samples as the "
                f"prompted digit, below the required {MIN_ACCURACY_W3}; the recipe needs changing")
    target = folder / FOLDER
    if target.exists():
        shutil.rmtree(target)
    save_parts(parts, target)
    entry = store.record(
        folder, NAME, target, REBUILD,
        accuracy_w1=accuracies.get(1.0), accuracy_w3=accuracies.get(3.0),
        accuracy_eval="200 samples of 'a handwritten digit k' (20 per digit), DDIM 20 steps, "
                      "eta 0, clip_sample=False, seed 0",
        train_cpu_seconds=round(parts.train_cpu_seconds, 1),
        recipe={**RECIPE, **({"steps": steps} if steps is not None else {})})
    if verbose:
        print(f"wrote {target} ({entry['bytes']:,} bytes in {len(entry['files'])} files), "
              f"accuracy w=1 {accuracies.get(1.0)}, w=3 {accuracies.get(3.0)}, "
              f"training {parts.train_cpu_seconds:.0f} CPU s")
    return target
