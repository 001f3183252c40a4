"""Sample quality per CPU second: digits-FID and IS of the course's generators vs the floor.

    python benchmarks/quality.py [--quick] [--gan-steps N] [--diffusion-steps N]
    python benchmarks/quality.py --recipe fast --seeds 0 1 2 --tag ddpm_3min_recipe

Trains the chapter 06 DCGAN and the chapter 03 diffusion models (epsilon and v
prediction) on the digits train split, evaluates every model on ``--samples`` generated
images (digits-FID against the train split, digits-IS) and compares with the
real-versus-real floor at the same sample count (360 test digits vs the train split).
Training time is CPU process time of the training loop (evaluation excluded).
Target (issue 8): DDPM within 2x of the floor after at most 3 minutes of CPU training.

``--recipe fast`` trains only the improved 3-minute DDPM recipe (see :data:`RECIPES`:
the chapter's U-Net and epsilon prediction, AdamW with linear warmup and cosine decay of
the learning rate, EMA of the weights) once per ``--seeds`` entry and samples each model
with DDPM (1000 steps) and DDIM (50 steps).

Writes benchmarks/results/quality.json and quality.md, tagged with the machine. The
CPU may be shared with other jobs: process time is less affected than wall time, but
both are slower under contention.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "load_average_at_start": load,
    }


def evaluate(images: torch.Tensor) -> dict:
    from genlab.metrics.fid import fid
    from genlab.metrics.inception_score import digits_inception_score

    return {"fid": fid("train", images), "inception_score": digits_inception_score(images).mean}


def bench_gan(steps: int, n: int, seed: int = 0) -> dict:
    from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
    from genlab.train.gan_digits import train_gan_digits
    from genlab.train.hooks import EvalHook, best_step, generator_sampler

    torch.manual_seed(seed)
    G, D = DigitsGenerator(), DigitsDiscriminator()
    hook = EvalHook(every=max(steps // 10, 1), n_samples=n, keep_samples=0)
    history = train_gan_digits(G, D, steps, lr_g=1e-3, lr_d=1e-3, seed=seed, callback=hook,
                               device="cpu")
    best = best_step(history, "fid")
    last = evaluate(generator_sampler(G, G.latent_dim, seed=123)(n))
    return {"model": "DCGAN (non-saturating, Adam 1e-3, beta1 0.5)", "train_steps": steps,
            "train_cpu_s": history.meta["train_seconds"], "sampler": "one forward pass",
            **last, "best_fid_during_training": min(v for v in history["fid"] if v == v),
            "best_step": best}


def bench_diffusion(prediction: str, steps: int, n: int, seed: int = 0) -> list[dict]:
    from genlab.models.samplers import ddim_sample, ddpm_sample
    from genlab.train.diffusion import train_digits_diffusion

    model, history = train_digits_diffusion(prediction, steps=steps, seed=seed, device="cpu")
    alphas_cumprod = history.meta["alphas_cumprod"]
    rows = []
    for name, sample in [
        ("DDIM 50 steps", lambda g: ddim_sample(model, (n, 1, 8, 8), alphas_cumprod, 50,
                                                prediction=prediction, generator=g)),
        ("DDPM 1000 steps", lambda g: ddpm_sample(model, (n, 1, 8, 8), alphas_cumprod,
                                                  prediction=prediction, generator=g)),
    ]:
        start = time.process_time()
        images = sample(torch.Generator().manual_seed(seed + 1)).clamp(-1, 1)
        sample_cpu = time.process_time() - start
        rows.append({"model": f"U-Net, {prediction}-prediction, cosine", "train_steps": steps,
                     "train_cpu_s": history.meta["cpu_seconds"], "sampler": name,
                     "sample_cpu_s": sample_cpu, **evaluate(images)})
    return rows


# 3-minute recipes (issue 8): same model and data as the chapter, but the learning rate
# warms up and then decays by a cosine to min_lr, so the last steps refine instead of
# bouncing around at a large constant rate. "cosine" decays to almost zero; "minsnr" (the default --recipe) decays only to a third of
# the peak rate and adds Min-SNR-5 loss weights (Hang et al. 2023), which spend the short
# budget on the noisy steps that shape the digits.
RECIPES = {
    "cosine": dict(prediction="epsilon", steps=3600, base_channels=16, batch_size=128, lr=3e-3,
                   warmup_steps=100, min_lr=1e-5, ema_decay=0.995, snr_gamma=None),
    "minsnr": dict(prediction="epsilon", steps=3300, base_channels=16, batch_size=128, lr=3e-3,
                   warmup_steps=100, min_lr=1e-3, ema_decay=0.995, snr_gamma=5.0),
}
FAST_RECIPE = RECIPES["minsnr"]


def train_recipe(seed: int, *, prediction: str, steps: int, base_channels: int, batch_size: int,
                 lr: float, warmup_steps: int, min_lr: float, ema_decay: float,
                 snr_gamma: float | None):
    """``train_digits_diffusion`` written out so an lr scheduler can be attached."""
    from genlab import seed_everything
    from genlab.data import load_digits
    from genlab.models.unet import SmallUNet
    from genlab.optim import warmup_cosine
    from genlab.train.diffusion import make_alphas_cumprod, train_diffusion

    seed_everything(seed)
    images, _ = load_digits("train")
    alphas_cumprod = make_alphas_cumprod("cosine", 1000)
    model = SmallUNet(base_channels=base_channels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = warmup_cosine(optimizer, min(warmup_steps, steps - 1), steps, min_lr=min_lr)
    history = train_diffusion(model, images, alphas_cumprod=alphas_cumprod, prediction=prediction,
                              snr_gamma=snr_gamma, steps=steps, batch_size=batch_size,
                              optimizer=optimizer, lr_scheduler=scheduler, ema_decay=ema_decay,
                              device="cpu")
    model.eval()
    return model, history


def bench_recipe(n: int, seed: int, **recipe) -> list[dict]:
    from genlab.models.samplers import ddim_sample, ddpm_sample

    model, history = train_recipe(seed, **recipe)
    alphas_cumprod = history.meta["alphas_cumprod"]
    prediction = recipe["prediction"]
    name = (f"U-Net {recipe['base_channels']}ch, {prediction}, cosine; AdamW {recipe['lr']:g} "
            f"warmup {recipe['warmup_steps']} + cosine decay, EMA {recipe['ema_decay']}"
            + (f", min-SNR {recipe['snr_gamma']:g}" if recipe["snr_gamma"] else "")
            + f"; seed {seed}")
    rows = []
    for sampler, sample in [
        ("DDIM 50 steps", lambda g: ddim_sample(model, (n, 1, 8, 8), alphas_cumprod, 50,
                                                prediction=prediction, generator=g)),
        ("DDPM 1000 steps", lambda g: ddpm_sample(model, (n, 1, 8, 8), alphas_cumprod,
                                                  prediction=prediction, generator=g)),
    ]:
        start = time.process_time()
        images = sample(torch.Generator().manual_seed(seed + 1)).clamp(-1, 1)
        sample_cpu = time.process_time() - start
        rows.append({"model": name, "seed": seed, "recipe": recipe,
                     "train_steps": recipe["steps"], "train_cpu_s": history.meta["cpu_seconds"],
                     "sampler": sampler, "sample_cpu_s": sample_cpu, **evaluate(images)})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny runs to check the script")
    parser.add_argument("--gan-steps", type=int, default=1500)
    parser.add_argument("--diffusion-steps", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=360)
    parser.add_argument("--skip-diffusion", action="store_true")
    parser.add_argument("--skip-gan", action="store_true")
    parser.add_argument("--predictions", nargs="+", default=["epsilon", "v"],
                        choices=["epsilon", "v", "x0"])
    parser.add_argument("--tag", default="", help="write quality_<tag>.json/.md instead")
    parser.add_argument("--recipe", choices=["fast", *RECIPES], default=None,
                        help="train only a 3-minute DDPM recipe (fast = FAST_RECIPE)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="seeds for --recipe (one trained model per seed)")
    parser.add_argument("--recipe-steps", type=int, default=None,
                        help=f"training steps for --recipe (default {FAST_RECIPE['steps']})")
    parser.add_argument("--note", default="", help="extra sentence for the markdown header")
    args = parser.parse_args(argv)
    recipe = None
    if args.recipe is not None:
        recipe = dict(FAST_RECIPE if args.recipe == "fast" else RECIPES[args.recipe])
        if args.recipe_steps is not None:
            recipe["steps"] = args.recipe_steps
        args.skip_gan = args.skip_diffusion = True
    if args.quick:
        args.gan_steps, args.diffusion_steps = 20, 5
        if recipe is not None:
            recipe["steps"] = 5
    torch.set_num_threads(1)  # one core per job on a shared machine; CPU seconds stay comparable
    from genlab.metrics.fid import real_vs_real_floor
    from genlab.metrics.inception_score import digits_inception_score
    from genlab.data import load_digits

    info = machine()
    n = args.samples
    test_images, _ = load_digits("test")
    floor = {"model": "real test digits (floor)", "train_steps": 0, "train_cpu_s": 0.0,
             "sampler": "-", "fid": real_vs_real_floor(min(n, 360)),
             "inception_score": digits_inception_score(test_images[:n]).mean}
    rows = [floor]
    if not args.skip_gan:
        rows.append(bench_gan(args.gan_steps, n))
        print(rows[-1], flush=True)
    if not args.skip_diffusion:
        for prediction in args.predictions:
            rows += bench_diffusion(prediction, args.diffusion_steps, n)
            print(rows[-2:], flush=True)
    if recipe is not None:
        for seed in args.seeds:
            rows += bench_recipe(n, seed, **recipe)
            print(rows[-2:], flush=True)
    for row in rows:
        row["fid_over_floor"] = row["fid"] / floor["fid"]
    out = {"machine": info, "samples": n, "rows": rows,
           "note": "digits-FID (32 features of genlab's digits classifier) is not comparable "
                   "with Inception FID; CPU shared with other jobs during the run"}
    if args.quick:
        print(json.dumps(out, indent=2))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"quality_{args.tag}" if args.tag else "quality"
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Sample quality per CPU second (digits-FID, digits-IS)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']}, "
        f"{info['torch_threads']} thread, device cpu; load average at start "
        f"{info['load_average_at_start']} (CPU shared with other jobs: times are inflated).",
        *([args.note] if args.note else []),
        f"{n} samples per model; FID against the train split. Digits-FID is not Inception FID.",
        "",
        "| model | train steps | train CPU s | sampler | FID | FID / floor | IS |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['train_steps']} | {r['train_cpu_s']:.0f} | {r['sampler']} "
                     f"| {r['fid']:.2f} | {r['fid_over_floor']:.2f} | {r['inception_score']:.2f} |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
