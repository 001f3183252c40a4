"""Benchmark of chapter 07 section 9: few-shot GAN transfer, full fine-tuning vs FreezeD.

    python benchmarks/gan_transfer.py [--seeds 0 1 2] [--steps 1200] [--lr 2e-3] [--threads 1]

Starts every run from the shipped 0-8 digits DCGAN (``genlab.pretrained.dcgan_digits_0to8``)
and fine-tunes it on the same 20 nines (``few_shot_nines(20, seed=0)``; the training seed
varies the noise and the batches) with ``genlab.finetune.gan_transfer.transfer_gan``: full
fine-tuning, FreezeD with D's first conv frozen (Mo et al. 2020) and, as a bound, D's two
convs frozen. Adam at the chapter's learning rate (2e-3) for both networks, 1,200 steps
(twice the chapter's run, to see where overfitting leads). Every ``--eval-every`` steps:
digits-FID of 300 samples to the 160 held-out nines.

Reports per setting (mean ± std over seeds) the best FID and its step (what early
stopping keeps), the final FID, how far FID rose after its minimum, the final FID to the
test split's 0-8 and share read as 9 (forgetting), the memorisation gap at the end
(distance to the nearest held-out nine minus to the nearest training nine, in feature
units), and the training CPU seconds (evaluation excluded) and wall seconds.

Writes benchmarks/results/gan_transfer.json (every run and its curves, plus the machine)
and benchmarks/results/gan_transfer.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import genlab
from genlab.finetune.gan_transfer import (
    TransferConfig,
    TransferEvaluator,
    few_shot_nines,
    transfer_gan,
)
from genlab.metrics.fid import fid_from_features
from genlab.pretrained.dcgan_digits_0to8 import load_dcgan_digits_0to8

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {
    "full fine-tuning": 0,
    "FreezeD: D's first conv frozen": 1,
    "D's two convs frozen (head only)": 2,
}


def machine() -> dict:
    return dict(platform=platform.platform(), python=platform.python_version(),
                torch=torch.__version__, cpu_count=os.cpu_count(),
                torch_threads=torch.get_num_threads(), device=str(genlab.get_device()),
                cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
                note="the CPU is shared with other jobs: wall times are upper bounds")


def run_one(name: str, freeze_d: int, seed: int, args, data, evaluator) -> dict:
    generator, discriminator = load_dcgan_digits_0to8(genlab.get_device())
    config = TransferConfig(steps=args.steps, lr=args.lr, freeze_d=freeze_d,
                            eval_every=args.eval_every, seed=seed, progress=False)
    wall = time.perf_counter()
    history = transfer_gan(generator, discriminator, *data, config, evaluator=evaluator)
    wall = time.perf_counter() - wall
    fids = history["fid_nines"]
    return dict(
        setting=name, freeze_d=freeze_d, seed=seed, steps=args.steps, lr=args.lr,
        best_fid=history.meta["best_fid"], best_step=history.meta["best_step"],
        final_fid=fids[-1], rise_after_best=fids[-1] - history.meta["best_fid"],
        final_fid_0to8=history["fid_0to8"][-1], final_share_nine=history["share_nine"][-1],
        final_memorisation_gap=history["nn_held_out"][-1] - history["nn_train"][-1],
        trainable_d_parameters=history.meta["trainable_d_parameters"],
        train_cpu_s=history.meta["train_seconds"], eval_cpu_s=history.meta["eval_seconds"],
        wall_s=wall,
        curve={k: dict(steps=history.steps[k], values=history[k])
               for k in ("fid_nines", "fid_0to8", "share_nine", "nn_train", "nn_held_out")},
    )


def _mean_std(values, digits=1):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(runs: list[dict], info: dict, reference_fid: float) -> str:
    first = runs[0]
    lines = [
        "# Few-shot GAN transfer: full fine-tuning vs FreezeD (chapter 07, section 9)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']} "
        f"({info['torch_threads']} thread), device {info['device']}; load average at the "
        f"start {', '.join(f'{v:.1f}' for v in info['load_average'])}. "
        "**The CPU was shared with other jobs**: wall times are upper bounds, CPU seconds "
        "are closer to what an idle machine gives.",
        "",
        f"The shipped 0-8 DCGAN fine-tuned on 20 nines for {first['steps']} steps (batch 20, "
        f"Adam lr {first['lr']:g}, betas (0.5, 0.999), both networks); digits-FID of 300 "
        "samples (fixed noise) to the 160 held-out nines every "
        f"{info['eval_every']} steps; mean ± std over training seeds "
        f"{sorted({r['seed'] for r in runs})} (same 20 images). For reference, the 20 "
        f"training nines themselves score FID {reference_fid:.1f} against the held-out "
        "nines, and the pretrained generator scores "
        f"{info['pretrained_fid_nines']:.0f} (FID to test 0-8: "
        f"{info['pretrained_fid_0to8']:.1f}). Memorisation gap: mean distance from a "
        "sample to the nearest of 20 held-out nines minus to the nearest of the 20 training "
        "nines (32-d features; 0 = no preference for the training images).",
        "",
        "| setting | trainable D params | best FID (early stopping) | best step | final FID "
        "| rise after best | final FID to 0-8 | final share read as 9 | memorisation gap "
        "| train CPU s | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["setting"] for r in runs):
        rs = [r for r in runs if r["setting"] == name]
        cols = [str(rs[0]["trainable_d_parameters"]),
                _mean_std([r["best_fid"] for r in rs]),
                _mean_std([r["best_step"] for r in rs], 0),
                _mean_std([r["final_fid"] for r in rs]),
                _mean_std([r["rise_after_best"] for r in rs]),
                _mean_std([r["final_fid_0to8"] for r in rs], 0),
                _mean_std([100 * r["final_share_nine"] for r in rs], 0) + " %",
                _mean_std([r["final_memorisation_gap"] for r in rs], 2),
                _mean_std([r["train_cpu_s"] for r in rs]),
                _mean_std([r["wall_s"] for r in rs])]
        lines.append(f"| {name} | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, as the chapter sets on a CPU)")
    parser.add_argument("--tag", default="gan_transfer", help="name of the result files")
    args = parser.parse_args(argv)
    if genlab.get_device().type == "cpu":
        torch.set_num_threads(args.threads)
    data = few_shot_nines(20, seed=0)
    evaluator = TransferEvaluator(*data, n_samples=300)
    reference_fid = fid_from_features(evaluator.held_out_features, evaluator.train_features)
    info = machine()
    pretrained = evaluator(load_dcgan_digits_0to8()[0])
    info.update(eval_every=args.eval_every, pretrained_fid_nines=pretrained["fid_nines"],
                pretrained_fid_0to8=pretrained["fid_0to8"])
    runs, start = [], time.perf_counter()
    for name, freeze_d in SETTINGS.items():
        for seed in args.seeds:
            run = run_one(name, freeze_d, seed, args, data, evaluator)
            print(f"{name:34s} seed {seed}: best {run['best_fid']:.1f} @ {run['best_step']}, "
                  f"final {run['final_fid']:.1f}, cpu {run['train_cpu_s']:.1f} s", flush=True)
            runs.append(run)
    info["total_wall_s"] = time.perf_counter() - start
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.tag}.json").write_text(json.dumps(
        dict(machine=info, reference_fid_train_nines=reference_fid, runs=runs), indent=1))
    markdown = table(runs, info, reference_fid)
    (RESULTS / f"{args.tag}.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
