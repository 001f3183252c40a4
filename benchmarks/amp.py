"""Mixed precision: training-step time and memory, fp32 versus autocast, in one run.

    python benchmarks/amp.py [--steps N] [--repeats R] [--cpu-only | --cuda-only] [--threads T]

Models: the digits U-Net of chapter 03 (``SmallUNet``, epsilon-prediction loss of
``genlab.train.diffusion.diffusion_loss``) and the 2-D MLP GAN of chapter 01 (one
discriminator and one generator update, non-saturating loss). Each is timed on the CPU
(fp32 versus bf16 autocast) and, when CUDA is present, on the GPU (fp32 versus fp16
autocast with a GradScaler, and bf16 when supported), through
``genlab.stabilize.mixed_precision`` and ``genlab.stabilize.scaled_step``: the same
path as ``amp=`` in the training loops.

Reported per configuration: median milliseconds per training step over ``repeats``
timings of ``steps`` steps (after warm-up), the bytes of activations autograd saves for
the backward pass (``genlab.stabilize.activation_bytes``; every device) and, on CUDA,
the peak allocated memory of a step. Ratios are fp32 / autocast (speed-up > 1 means AMP
is faster; memory ratio > 1 means AMP uses less).

Writes ``benchmarks/results/amp.json`` and ``benchmarks/results/amp.md``.
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
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlab import stabilize  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"

# Batch sizes: small on the CPU (a shared 2-core box must finish in a minute), large on
# a GPU so that the arithmetic, not kernel launches, dominates a step.
SIZES = {
    "cpu": {"unet_batch": 64, "unet_channels": 32, "gan_batch": 256, "gan_hidden": 128},
    "cuda": {"unet_batch": 1024, "unet_channels": 64, "gan_batch": 8192, "gan_hidden": 512},
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def unet_task(device: torch.device, sizes: dict):
    """(model parameters, step(recipe, opt, scaler), forward(recipe)) for the U-Net."""
    from genlab.data import load_digits
    from genlab.losses.diffusion import alphas_cumprod_from_betas, linear_beta_schedule
    from genlab.models.unet import SmallUNet
    from genlab.train.diffusion import diffusion_loss

    images, _ = load_digits("train")
    reps = -(-sizes["unet_batch"] // len(images))
    x0 = images.repeat(reps, 1, 1, 1)[: sizes["unet_batch"]].to(device)
    alphas_cumprod = alphas_cumprod_from_betas(linear_beta_schedule(1000)).to(device)
    torch.manual_seed(0)
    model = SmallUNet(in_channels=1, base_channels=sizes["unet_channels"]).to(device)

    def loss_of(recipe):
        with recipe.autocast():
            loss, _ = diffusion_loss(model, x0, alphas_cumprod)
        return loss.float()

    def step(recipe, opt, scaler):
        opt.zero_grad(set_to_none=True)
        stabilize.scaled_step(loss_of(recipe), opt, scaler)

    return list(model.parameters()), step, loss_of


def gan_task(device: torch.device, sizes: dict):
    """(parameters, step, forward) for one D and one G update of the 2-D MLP GAN."""
    from genlab.data import sample_ring
    from genlab.models.mlp2d import MLPDiscriminator, MLPGenerator

    torch.manual_seed(0)
    gen = MLPGenerator(2, sizes["gan_hidden"], 3).to(device)
    disc = MLPDiscriminator(2, sizes["gan_hidden"], 3).to(device)
    real = sample_ring(sizes["gan_batch"]).to(device)
    z = torch.randn(sizes["gan_batch"], 2, device=device)
    softplus = nn.functional.softplus
    opts: dict = {}

    def d_loss_of(recipe):
        with recipe.autocast():
            fake = gen(z).detach()
            real_out, fake_out = disc(real).float(), disc(fake).float()
        return softplus(-real_out).mean() + softplus(fake_out).mean()

    def g_loss_of(recipe):
        with recipe.autocast():
            fake_out = disc(gen(z)).float()
        return softplus(-fake_out).mean()

    def step(recipe, opt, scaler):
        # opt/scaler are per network here: the GAN loop keeps one scaler per network
        if recipe not in opts:
            opts[recipe] = (torch.optim.Adam(gen.parameters(), 1e-4, betas=(0.0, 0.9)),
                            torch.optim.Adam(disc.parameters(), 4e-4, betas=(0.0, 0.9)),
                            recipe.make_scaler(), recipe.make_scaler())
        g_opt, d_opt, g_scaler, d_scaler = opts[recipe]
        d_opt.zero_grad(set_to_none=True)
        stabilize.scaled_step(d_loss_of(recipe), d_opt, d_scaler)
        g_opt.zero_grad(set_to_none=True)
        stabilize.scaled_step(g_loss_of(recipe), g_opt, g_scaler)

    def forward(recipe):
        return d_loss_of(recipe) + g_loss_of(recipe)

    return [*gen.parameters(), *disc.parameters()], step, forward


def measure(task, device: torch.device, recipes: list, steps: int, repeats: int) -> list[dict]:
    """Time each recipe on ``task``; repeats alternate between recipes so that a busy,
    shared machine slows all of them alike (the ratios are what we report)."""
    params, step, forward = task
    states = []
    for recipe in recipes:
        opt, scaler = torch.optim.Adam(params, lr=1e-4), recipe.make_scaler()
        for _ in range(3):  # warm-up: kernels, allocator, autocast caches
            step(recipe, opt, scaler)
        states.append((recipe, opt, scaler))
    _sync(device)
    timings: list[list[float]] = [[] for _ in recipes]
    for _ in range(repeats):
        for k, (recipe, opt, scaler) in enumerate(states):
            start = time.perf_counter()
            for _ in range(steps):
                step(recipe, opt, scaler)
            _sync(device)
            timings[k].append((time.perf_counter() - start) / steps * 1000)
    results = []
    for k, (recipe, opt, scaler) in enumerate(states):
        result = {
            "ms_per_step": statistics.median(timings[k]),
            "ms_per_step_all": timings[k],
            "saved_activation_mb": stabilize.activation_bytes(lambda: forward(recipe)) / 2**20,
        }
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            step(recipe, opt, scaler)
            _sync(device)
            result["cuda_peak_step_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        results.append(result)
    return results


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "note": "CPU shared with other jobs: CPU timings are noisy",
    }
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="timings per configuration")
    parser.add_argument("--cpu-only", action="store_true", help="skip CUDA even if present")
    parser.add_argument("--cuda-only", action="store_true",
                        help="skip the CPU rows (benchmarks/gpu_check.sh)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    devices = [] if args.cuda_only else [torch.device("cpu")]
    if torch.cuda.is_available() and not args.cpu_only:
        devices.append(torch.device("cuda"))
    rows = []
    for device in devices:
        sizes = SIZES[device.type]
        amp_settings = ["bf16"] if device.type == "cpu" else ["fp16"]
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            amp_settings.append("bf16")
        for model_name, make in [("unet", unet_task), ("gan", gan_task)]:
            task = make(device, sizes)
            recipes = [stabilize.mixed_precision(False, device)]
            recipes += [stabilize.mixed_precision(amp, device) for amp in amp_settings]
            fp32, *mixed_results = measure(task, device, recipes, args.steps, args.repeats)
            for recipe, mixed in zip(recipes[1:], mixed_results):
                row = {
                    "device": device.type, "model": model_name, "amp": str(recipe),
                    "sizes": sizes, "fp32": fp32, "amp_result": mixed,
                    "speedup": fp32["ms_per_step"] / mixed["ms_per_step"],
                    "activation_ratio": fp32["saved_activation_mb"]
                    / mixed["saved_activation_mb"],
                }
                if device.type == "cuda":
                    row["cuda_peak_ratio"] = fp32["cuda_peak_step_mb"] / mixed["cuda_peak_step_mb"]
                rows.append(row)
                print(f"{device.type:4s} {model_name:4s} {str(recipe):30s} "
                      f"fp32 {fp32['ms_per_step']:8.2f} ms  amp {mixed['ms_per_step']:8.2f} ms  "
                      f"speed-up x{row['speedup']:.2f}  "
                      f"activations x{row['activation_ratio']:.2f}", flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    (RESULTS / "amp.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    lines = [
        "# Mixed precision: fp32 versus autocast, per training step",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs ({info['processor']}), "
        f"torch {info['torch']} ({info['torch_threads']} threads), "
        f"GPU: {info['cuda'] or 'none'}; {info['date']}. {info['note']}.",
        "",
        "| device | model | autocast | batch | fp32 ms/step | AMP ms/step | speed-up | "
        "saved activations fp32 / AMP (MB) | CUDA peak fp32 / AMP (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        batch = r["sizes"]["unet_batch" if r["model"] == "unet" else "gan_batch"]
        peak = "n/a"
        if "cuda_peak_ratio" in r:
            peak = (f"{r['fp32']['cuda_peak_step_mb']:.0f} / "
                    f"{r['amp_result']['cuda_peak_step_mb']:.0f} (x{r['cuda_peak_ratio']:.2f})")
        lines.append(
            f"| {r['device']} | {r['model']} | {r['amp']} | {batch} | "
            f"{r['fp32']['ms_per_step']:.2f} | {r['amp_result']['ms_per_step']:.2f} | "
            f"x{r['speedup']:.2f} | {r['fp32']['saved_activation_mb']:.1f} / "
            f"{r['amp_result']['saved_activation_mb']:.1f} (x{r['activation_ratio']:.2f}) | "
            f"{peak} |")
    lines += ["", "Speed-up and memory ratios are fp32 / AMP: above 1 means AMP is better."]
    (RESULTS / "amp.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'amp.json'} and {RESULTS / 'amp.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
