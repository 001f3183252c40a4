"""Diffusion on the digits: training cost, sampling speed and sample quality, eps vs v.

    python benchmarks/diffusion.py [--steps N] [--seeds 0 1 2] [--samples 500] [--threads 1]

For each prediction type (``epsilon``, ``v``) and seed, trains the chapter's recipe
(``genlab.train.diffusion.train_digits_diffusion``: SmallUNet with 16 base channels,
cosine schedule, batch 128, EMA) and records:

- training seconds: CPU (process) seconds and wall seconds;
- sampling speed: samples per second of DDIM (50 steps) and DDPM (1000 steps), wall;
- quality: digits-FID against the test split (``genlab.metrics.fid``; lower is better)
  and the share of samples the course's digit classifier labels with confidence > 0.9
  (``genlab.metrics.inception_score.digits_class_probs``); real test digits are the ceiling.

Sample grids (seed 0) are saved as ``benchmarks/results/diffusion_<prediction>.png``.
Writes ``benchmarks/results/diffusion.json`` and ``benchmarks/results/diffusion.md``.
The CPU may be shared with other jobs: wall times then exceed CPU times; the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def machine(device) -> dict:
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "device": str(device),
            "load_average_at_start": os.getloadavg()}


def confident_share(images: torch.Tensor) -> float:
    from genlab.metrics.inception_score import digits_class_probs

    return float((digits_class_probs(images).max(dim=1).values > 0.9).float().mean())


def run_one(prediction: str, seed: int, steps: int, n_samples: int, device) -> dict:
    from genlab.metrics.fid import fid
    from genlab.models.samplers import ddim_sample, ddpm_sample
    from genlab.train.diffusion import train_digits_diffusion

    model, history = train_digits_diffusion(prediction, steps=steps, seed=seed, device=device)
    abar = history.meta["alphas_cumprod"]
    gen = torch.Generator().manual_seed(1000 + seed)
    start = time.perf_counter()
    samples = ddim_sample(model, (n_samples, 1, 8, 8), abar, 50, prediction=prediction,
                          generator=gen).cpu()
    ddim_rate = n_samples / (time.perf_counter() - start)
    n_ddpm = 32
    start = time.perf_counter()
    ddpm_sample(model, (n_ddpm, 1, 8, 8), abar, prediction, generator=gen)
    ddpm_rate = n_ddpm / (time.perf_counter() - start)
    return {"prediction": prediction, "seed": seed, "steps": steps,
            "train_cpu_s": history.meta["cpu_seconds"], "train_wall_s": history.meta["seconds"],
            "final_loss": statistics.fmean(history["loss"][-50:]),
            "ddim50_samples_per_s": ddim_rate, "ddpm1000_samples_per_s": ddpm_rate,
            "fid_test": fid("test", samples), "confident_share": confident_share(samples),
            "_samples": samples}


def save_grid(samples: torch.Tensor, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genlab.viz import image_grid

    ax = image_grid(samples[:80], ncols=16, title=title)
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)


def markdown(rows: list[dict], info: dict, real: dict) -> str:
    lines = [
        "# Diffusion on digits: epsilon vs v prediction",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']} "
        f"({info['torch_threads']} thread(s)), device {info['device']}. "
        f"Load average at start {info['load_average_at_start'][0]:.1f}: **the CPU was shared "
        "with other jobs**, so wall times are inflated; CPU seconds are the fairer cost.",
        "",
        f"Recipe: SmallUNet (16 base channels), cosine schedule, {rows[0]['steps']} steps of "
        "128 images, AdamW 3e-3, EMA 0.995. Quality on DDIM-50 samples. Mean ± std over seeds.",
        "",
        "| prediction | seeds | train CPU s | train wall s | DDIM-50 samples/s | DDPM-1000 samples/s "
        "| FID (test) | confident share |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ms(values, fmt):
        if len(values) == 1:
            return format(values[0], fmt)
        return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"

    for pred in ("epsilon", "v"):
        rs = [r for r in rows if r["prediction"] == pred]
        if not rs:
            continue
        lines.append(
            f"| {pred} | {len(rs)} | {ms([r['train_cpu_s'] for r in rs], '.1f')} "
            f"| {ms([r['train_wall_s'] for r in rs], '.1f')} "
            f"| {ms([r['ddim50_samples_per_s'] for r in rs], '.0f')} "
            f"| {ms([r['ddpm1000_samples_per_s'] for r in rs], '.1f')} "
            f"| {ms([r['fid_test'] for r in rs], '.2f')} "
            f"| {ms([r['confident_share'] for r in rs], '.2f')} |")
    lines.append(f"| real train digits (ceiling) | - | - | - | - | - | {real['fid_test']:.2f} "
                 f"| {real['confident_share']:.2f} |")
    lines += ["", "Sample grids: `diffusion_epsilon.png`, `diffusion_v.png` (seed 0).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on a shared CPU)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import genlab
    from genlab.data import load_digits
    from genlab.metrics.fid import fid

    device = genlab.get_device()
    info = machine(device)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for pred in ("epsilon", "v"):
        for seed in args.seeds:
            row = run_one(pred, seed, args.steps, args.samples, device)
            samples = row.pop("_samples")
            if seed == args.seeds[0]:
                save_grid(samples, RESULTS / f"diffusion_{pred}.png",
                          f"{pred}-prediction, {args.steps} steps, DDIM 50 (seed {seed})")
            rows.append(row)
            print(json.dumps(row), flush=True)
    real_train = load_digits("train")[0][: args.samples]
    real = {"fid_test": fid("test", real_train), "confident_share": confident_share(real_train)}
    (RESULTS / "diffusion.json").write_text(json.dumps(
        {"machine": info, "args": vars(args), "runs": rows, "real_train_digits": real}, indent=1))
    (RESULTS / "diffusion.md").write_text(markdown(rows, info, real))
    print(markdown(rows, info, real))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
