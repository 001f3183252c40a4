"""Benchmark of chapter 02_vae_elbo: test-set negative ELBO and training cost, 3 seeds.

    python benchmarks/vae.py [--seeds 0 1 2] [--steps 1000] [--threads 1]

Runs the chapter's three trainings (the 2-D VAE; the 8-D VAE at beta = 1 without and with
KL warm-up over half the steps) on the binarized 8x8 digits, and reports for each seed
the test negative ELBO in nats per image (estimated with 10 reparameterized samples per
image), its reconstruction and KL parts, the number of active latent dimensions (test
KL > 0.05 nats) and the training time (process CPU seconds and wall seconds).

Writes benchmarks/results/vae.json (every run, plus the machine) and
benchmarks/results/vae.md (mean and standard deviation over seeds).
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
from genlab.losses.vae import binarize
from genlab.models.vae import DigitsVAE
from genlab.train.vae import evaluate_vae, train_vae

RESULTS = Path(__file__).resolve().parent / "results"
ACTIVE_KL = 0.05  # nats: a latent dimension below this on the test set counts as collapsed


def settings(steps: int) -> dict[str, dict]:
    """The chapter's trainings (solutions/02_vae_elbo), by name."""
    return {
        "2-D latent (lr 3e-3)": dict(latent_dim=2, lr=3e-3, beta=1.0, warmup=0),
        "8-D latent, beta=1": dict(latent_dim=8, lr=1e-3, beta=1.0, warmup=0),
        "8-D latent, beta=1, KL warm-up": dict(latent_dim=8, lr=1e-3, beta=1.0,
                                               warmup=steps // 2),
    }


def machine() -> dict:
    return dict(platform=platform.platform(), processor=platform.processor(),
                python=platform.python_version(), torch=torch.__version__,
                cpu_count=os.cpu_count(),
                torch_threads=torch.get_num_threads(), device=str(genlab.get_device()),
                cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
                note="the CPU is shared with other jobs: times are upper bounds")


def run_one(name: str, cfg: dict, seed: int, steps: int, x_train, x_test) -> dict:
    device = x_train.device
    genlab.seed_everything(seed)
    vae = DigitsVAE(latent_dim=cfg["latent_dim"]).to(device)
    history = train_vae(vae, x_train, steps=steps, lr=cfg["lr"], beta=cfg["beta"],
                        kl_warmup_steps=cfg["warmup"], seed=seed)
    result = evaluate_vae(vae, x_test, n_samples=10, seed=seed)
    return dict(setting=name, seed=seed, steps=steps, **{k: cfg[k] for k in cfg},
                test_neg_elbo=result["neg_elbo"], test_recon=result["recon"],
                test_kl=result["kl"], test_kl_per_dim=result["kl_per_dim"].tolist(),
                active_dims=int((result["kl_per_dim"] > ACTIVE_KL).sum()),
                train_cpu_s=history.meta["cpu_seconds"], train_wall_s=history.meta["seconds"])


def _mean_std(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {std:.2f}"


def table(runs: list[dict], info: dict) -> str:
    lines = [
        "# VAE benchmark (chapter 02_vae_elbo)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']} "
        f"({info['torch_threads']} threads), device {info['device']}; load average at the "
        f"start {', '.join(f'{v:.1f}' for v in info['load_average'])}. "
        "**The CPU was shared with other jobs**: wall times are upper bounds, CPU seconds "
        "are closer to what an idle machine gives.",
        "",
        f"Binarized digits, {runs[0]['steps']} Adam steps, batch 128; test set of 360 "
        "images; -ELBO with 10 samples per image; mean ± std over seeds "
        f"{sorted({r['seed'] for r in runs})}.",
        "",
        "| setting | test -ELBO (nats/image) | recon | KL | active dims | train CPU s "
        "| train wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["setting"] for r in runs):
        rs = [r for r in runs if r["setting"] == name]
        cols = [_mean_std([r[k] for r in rs]) for k in
                ("test_neg_elbo", "test_recon", "test_kl", "active_dims", "train_cpu_s",
                 "train_wall_s")]
        lines.append(f"| {name} | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1, as the chapter sets on a CPU)")
    args = parser.parse_args(argv)
    device = genlab.get_device()
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    x_train = binarize(genlab.data.load_digits("train")[0]).to(device)
    x_test = binarize(genlab.data.load_digits("test")[0]).to(device)
    info = machine()
    runs, start = [], time.perf_counter()
    for name, cfg in settings(args.steps).items():
        for seed in args.seeds:
            run = run_one(name, cfg, seed, args.steps, x_train, x_test)
            print(f"{name:32s} seed {seed}: -ELBO {run['test_neg_elbo']:.2f} "
                  f"active {run['active_dims']} cpu {run['train_cpu_s']:.1f} s", flush=True)
            runs.append(run)
    info["total_wall_s"] = time.perf_counter() - start
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "vae.json").write_text(json.dumps(dict(machine=info, runs=runs), indent=1))
    markdown = table(runs, info)
    (RESULTS / "vae.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
