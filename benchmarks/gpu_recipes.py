"""Each chapter's training recipes on one device, timed, with the number that says they worked.

    python benchmarks/gpu_recipes.py [--device cuda] [--quick] [--out FILE]

The runs are the chapters' own (same settings as the solutions notebooks): 01's first
ring run and the islands recipe on the grid, 02's 2-D VAE, 03's epsilon- and v-prediction
U-Nets, 04's denoiser with and without warmup, 05's TTUR GAN with spectral norm and with
AMP (fp16 + GradScaler on CUDA, bf16 on the CPU), 06's digits GAN with FID every 75 steps.
Each row records wall seconds (the device synchronized), CPU seconds and the chapter's
quality number (modes covered, negative ELBO, FID, final loss), so a GPU run is checked,
not only timed. ``--quick`` divides the steps by 50 (a smoke test of this script on a CPU).
Called by ``benchmarks/gpu_check.sh``; writes ``benchmarks/results/gpu_recipes.json`` by
default.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device, fn):
    _sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def recipes(device: torch.device, scale: float):
    """``(chapter, name, steps, run)`` per recipe; ``run()`` trains and returns metrics."""
    from genlab import optim
    from genlab.train.gan import evaluate_modes, train_gan_2d

    def steps(n):
        return max(2, int(n * scale))

    def gan_ring():
        run = train_gan_2d("ring", "nonsaturating", steps=steps(1000), hidden=64, g_lr=2e-3,
                           d_lr=2e-3, lr_decay=True, device=device, progress=False)
        coverage, _ = evaluate_modes(run.generator, "ring")
        return {"modes_covered": coverage.modes_covered, "high_quality": coverage.high_quality}

    def gan_islands():
        run = train_gan_2d("grid", "nonsaturating", latent="mixture", latent_dim=8,
                           n_components=128, component_std=0.05, steps=steps(4000),
                           g_lr=5e-3, d_lr=5e-3, betas=(0.0, 0.9), lr_decay=True,
                           device=device, progress=False)
        coverage, _ = evaluate_modes(run.generator, "grid", latent_prior=run.latent_prior,
                                     temperature=0.5)
        return {"modes_covered": coverage.modes_covered, "high_quality": coverage.high_quality}

    def vae_2d():
        from genlab.data import load_digits
        from genlab.losses.vae import binarize
        from genlab.models.vae import DigitsVAE
        from genlab.train.vae import evaluate_vae, train_vae

        x_train = binarize(load_digits("train")[0])
        x_test = binarize(load_digits("test")[0])
        torch.manual_seed(0)
        vae = DigitsVAE(latent_dim=2).to(device)
        train_vae(vae, x_train, steps=steps(1000), lr=3e-3, progress=False)
        return {"test_neg_elbo_nats": evaluate_vae(vae, x_test)["neg_elbo"]}

    def diffusion(prediction):
        def run():
            from genlab.metrics.fid import fid
            from genlab.models.samplers import ddim_sample
            from genlab.train.diffusion import train_digits_diffusion

            model, history = train_digits_diffusion(prediction, steps=steps(400),
                                                    device=device, seed=0, progress=False)
            samples = ddim_sample(model, (100, 1, 8, 8), history.meta["alphas_cumprod"],
                                  num_steps=50, prediction=prediction,
                                  generator=torch.Generator().manual_seed(0))
            tail = history["loss"][-50:]
            return {"final_loss": sum(tail) / len(tail),
                    "fid_train_100_samples": fid("train", samples.clamp(-1, 1).cpu())}
        return run

    def denoiser(warmup):
        def run():
            from genlab.toys.optimizers import train_denoiser

            schedule = (lambda o: optim.linear_warmup(o, 50)) if warmup else None
            history = train_denoiser(schedule, lr=1e-2, steps=steps(300), device=device,
                                     progress=False)
            return {"max_loss_first_50": max(history["loss"][:50]),
                    "final_loss": history["loss"][-1]}
        return run

    def stabilized(amp):
        def run():
            from genlab import stabilize

            ttur = dict(g_lr=2 * stabilize.TTUR_DEFAULTS["lr_g"],
                        d_lr=2 * stabilize.TTUR_DEFAULTS["lr_d"],
                        betas=stabilize.TTUR_DEFAULTS["betas"])
            run = train_gan_2d("ring", "nonsaturating", steps=steps(800), hidden=64,
                               batch_size=128, device=device, seed=0, spectral_norm=True,
                               amp=amp, progress=False, **ttur)
            coverage, _ = evaluate_modes(run.generator, "ring")
            return {"modes_covered": coverage.modes_covered,
                    "high_quality": coverage.high_quality, "amp": run.history.meta["amp"]}
        return run

    def gan_digits():
        from genlab.models.dcgan_digits import DigitsDiscriminator, DigitsGenerator
        from genlab.train.gan_digits import train_gan_digits
        from genlab.train.hooks import EvalHook

        torch.manual_seed(0)
        n = steps(600)
        history = train_gan_digits(DigitsGenerator(), DigitsDiscriminator(), n, lr_g=1e-3,
                                   lr_d=1e-3, device=device, progress=False,
                                   callback=EvalHook(every=max(1, n // 8), n_samples=500))
        return {"final_fid": history["fid"][-1], "train_seconds": history.meta["train_seconds"]}

    return [
        ("01_gan_losses", "ring, non-saturating, 1000 steps", steps(1000), gan_ring),
        ("01_gan_losses", "grid, noise islands, 4000 steps", steps(4000), gan_islands),
        ("02_vae_elbo", "2-D VAE, 1000 steps", steps(1000), vae_2d),
        ("03_diffusion_losses", "U-Net epsilon, 400 steps + DDIM 50", steps(400),
         diffusion("epsilon")),
        ("03_diffusion_losses", "U-Net v, 400 steps + DDIM 50", steps(400), diffusion("v")),
        ("04_optimizers_schedules", "denoiser, no warmup", steps(300), denoiser(False)),
        ("04_optimizers_schedules", "denoiser, 50 warmup steps", steps(300), denoiser(True)),
        ("05_stabilization", "TTUR + spectral norm, fp32", steps(800), stabilized(False)),
        ("05_stabilization", "TTUR + spectral norm, AMP", steps(800), stabilized(True)),
        ("06_monitoring", "digits GAN + FID every 75 steps", steps(600), gan_digits),
    ]


def machine(device: torch.device) -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "device": str(device), "torch_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="steps / 50: a smoke test")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/gpu_recipes.json"))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_recipes: no CUDA device; pass --device cpu for a smoke run", file=sys.stderr)
        return 2
    cpu_table = {}
    chapters_json = ROOT / "benchmarks/results/chapters.json"
    if chapters_json.is_file():
        cpu_table = {r["chapter"]: r["seconds"]
                     for r in json.loads(chapters_json.read_text())["chapters"]}
    rows, failures = [], 0
    for chapter, name, n_steps, run in recipes(device, 1 / 50 if args.quick else 1.0):
        try:
            metrics, wall, cpu = _timed(device, run)
            row = {"chapter": chapter, "recipe": name, "steps": n_steps,
                   "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                   "metrics": metrics}
        except Exception as exc:  # one broken recipe must not hide the others' numbers
            failures += 1
            row = {"chapter": chapter, "recipe": name, "steps": n_steps,
                   "error": f"{type(exc).__name__}: {exc}"}
        row["chapter_cpu_full_run_s"] = cpu_table.get(chapter)
        rows.append(row)
        shown = row.get("error") or f"{row['wall_seconds']:7.1f} s  {row['metrics']}"
        print(f"{chapter:24s} {name:36s} {shown}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine(device), "quick": args.quick,
                               "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
