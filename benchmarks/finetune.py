"""Benchmark of chapter 07_finetuning: every fine-tuning method x 3 seeds on the tiny Llama.

    python benchmarks/finetune.py [--seeds 0 1 2] [--steps 60] [--threads 1]

Runs ``genlab.finetune.lm.run_lm`` (the recipe behind ``python -m genlab.finetune lm`` and
the chapter) for each method: the shipped ``tiny-llama-general`` model adapted to the
legal training split (150 sentences, 61 blocks of 32 tokens) with AdamW, batch 16 blocks,
a 5-step warm-up and linear decay, the method's default learning rate. Reports per run
the trainable parameters (at the end of training), the training time (process CPU
seconds and wall seconds of the loop, evaluation excluded), the domain (legal) and
general test perplexity (all test blocks; general = the forgetting probe), and the bytes
of the saved checkpoint (what the method trained, as safetensors).

Writes benchmarks/results/finetune.json (every run, plus the machine) and
benchmarks/results/finetune.md (mean and standard deviation over seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import genlab

    return dict(platform=platform.platform(), processor=platform.processor(),
                python=platform.python_version(), torch=torch.__version__,
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                device=str(genlab.get_device()),
                load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
                note="the CPU is shared with other jobs: times are upper bounds")


def run_one(method: str, seed: int, steps: int) -> dict:
    from genlab.finetune.lm import DEFAULT_LR, run_lm

    with tempfile.TemporaryDirectory() as tmp:
        result = run_lm(method, steps=steps, batch_size=16, seed=seed, warmup_steps=5,
                        out=tmp, progress=False)
    history = result["history"]
    return dict(method=method, seed=seed, steps=steps, lr=DEFAULT_LR[method],
                trainable_parameters=result["trainable_parameters"],
                trainable_at_start=history.meta["trainable_parameters"],
                train_cpu_s=history.meta["cpu_seconds"], train_wall_s=history.meta["wall_seconds"],
                domain_ppl=result["domain_ppl"], general_ppl=result["general_ppl"],
                checkpoint_bytes=result["checkpoint_bytes"], final_loss=history.last("loss"))


def _mean_std(values, digits=2):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(runs: list[dict], info: dict, base: dict) -> str:
    seeds = sorted({r["seed"] for r in runs})
    steps = runs[0]["steps"]
    lines = [
        "# Fine-tuning methods (chapter 07_finetuning)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']}, "
        f"{info['torch_threads']} thread(s), device {info['device']}; {info['note']} "
        f"(load average {', '.join(f'{x:.1f}' for x in info['load_average'])}).",
        "",
        f"The shipped tiny Llama (176,768 parameters) adapted to 150 legal sentences: {steps} "
        f"updates of 16 blocks x 32 tokens, seeds {', '.join(map(str, seeds))}; "
        f"mean ± standard deviation over seeds. Pretrained model: domain perplexity "
        f"{base['domain_ppl']:.2f}, general {base['general_ppl']:.2f}. CPU s: the training "
        "loop only, one thread.",
        "",
        "| method | lr | trainable params | train CPU s | domain PPL | general PPL | checkpoint |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method in dict.fromkeys(r["method"] for r in runs):
        rs = [r for r in runs if r["method"] == method]
        start, end = rs[0]["trainable_at_start"], rs[0]["trainable_parameters"]
        trainable = f"{end:,}" if start == end else f"{start:,} -> {end:,}"
        lines.append(
            f"| {method} | {rs[0]['lr']:g} | {trainable} | "
            f"{_mean_std([r['train_cpu_s'] for r in rs], 1)} | "
            f"{_mean_std([r['domain_ppl'] for r in rs])} | "
            f"{_mean_std([r['general_ppl'] for r in rs])} | "
            f"{statistics.fmean(r['checkpoint_bytes'] for r in rs) / 1024:.1f} KB |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    from genlab.data import text
    from genlab.finetune.lm import METHODS, perplexity
    from genlab.pretrained import tiny_lm

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    model, tokenizer = tiny_lm.load_tiny_lm()
    base = {f"{name}_ppl": perplexity(model, text.pack_blocks(text.load_corpus(register, "test"),
                                                               tokenizer))
            for name, register in [("domain", "legal"), ("general", "general")]}
    runs = []
    for method in args.methods or METHODS:
        for seed in args.seeds:
            run = run_one(method, seed, args.steps)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in run.items()}), flush=True)
            runs.append(run)
    info = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "finetune.json").write_text(json.dumps(
        {"machine": info, "pretrained": base, "runs": runs}, indent=1) + "\n")
    (RESULTS / "finetune.md").write_text(table(runs, info, base))
    print(table(runs, info, base))


if __name__ == "__main__":
    main()
