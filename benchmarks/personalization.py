"""Chapter 08: the guidance sweep and every personalization method, over seeds, with CPU cost.

    python benchmarks/personalization.py [--seeds 0 1 2] [--n-per-digit 20] [--threads 1]
                                         [--model FOLDER] [--variants ...] [--no-sweep]

On the shipped text-to-image model (``genlab.pretrained.digits_t2i``; ``--model`` points
at another folder of the same layout):

- the classifier-free guidance sweep of helper 14a (``guidance.guidance_sweep``, w = 1, 2,
  3, 5, 8, 20 samples per digit) for each seed;
- each personalization variant, trained on the chapter's subject (the bold-italic style,
  4 reference images of 3s and 7s: ``genlab.finetune.style.reference_set``) with the
  chapter's settings (:data:`VARIANTS`), for each seed, measured by
  ``genlab.finetune.style.personalization_measures`` on every digit (subject prompts and
  plain prompts, ``--n-per-digit`` each): fidelity (style score and feature distance on
  the reference classes and on the *other* classes), prior preservation and drift
  (classifier accuracy on plain prompts, style of plain samples, paired feature distance
  of the class prompts' samples before and after), diversity (within-class spread,
  digits-FID), with the training CPU seconds and the size of what a user would save.

The seed changes the training draws, the class images and the evaluation noise. Writes
``benchmarks/results/personalization.json`` and ``personalization.md``. Timings are CPU
(process) seconds with one torch thread; the machine may be shared (wall seconds are
recorded but are then upper bounds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

RESULTS = ROOT / "benchmarks" / "results"

# The chapter's settings (solutions/08_personalization, sections 3-5): keep them equal.
VARIANTS = {
    "base model": {},
    "DreamBooth, no prior": {"method": "dreambooth", "prior": False, "steps": 100, "lr": 1e-3,
                             "train_text_encoder": True},
    "DreamBooth + prior": {"method": "dreambooth", "prior": True, "steps": 100, "lr": 1e-3,
                           "train_text_encoder": True},
    "LoRA-DreamBooth + prior": {"method": "dreambooth", "prior": True, "steps": 100, "lr": 1e-2,
                                "lora_rank": 4},
    "textual inversion": {"method": "textual_inversion", "steps": 150, "lr": 2e-2,
                          "weight_decay": 1e-2},
}
# Class images: 25 for each reference digit (its plain prompt is the one at risk), 5 for
# each other digit (so that training on 3s and 7s does not erase the rest).
CLASS_DIGITS = [3, 7] * 5 + [0, 1, 2, 4, 5, 6, 8, 9]
CLASS_IMAGES_PER_ENTRY = 5
BATCH_SIZE = 4


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "load_average_at_start": os.getloadavg()}


def load(model):
    from genlab.pretrained.digits_t2i import load_digits_t2i

    return load_digits_t2i(model, device="cpu")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def run_variant(name: str, spec: dict, seed: int, model, reference, reference_digits,
                class_set, baseline, n_per_digit: int) -> dict:
    from genlab.finetune import dreambooth, textual_inversion
    from genlab.finetune.loop import TrainConfig
    from genlab.finetune.style import personalization_measures

    parts = load(model)
    row = {"variant": name, "seed": seed, "train_cpu_s": 0.0, "train_wall_s": 0.0,
           "trainable_numbers": 0, "saved_bytes": 0}
    prompt = dreambooth.instance_prompt
    method = spec.get("method")
    if method is not None:
        config = TrainConfig(steps=spec["steps"], lr=spec["lr"],
                             weight_decay=spec.get("weight_decay", 0.0), seed=seed,
                             cpu=True, progress=False)
        with tempfile.TemporaryDirectory() as tmp:
            if method == "dreambooth":
                images, digits = class_set if spec["prior"] else (None, None)
                history = dreambooth.train_dreambooth(
                    parts, reference, reference_digits, config, class_images=images,
                    class_digits=digits, batch_size=BATCH_SIZE, lora_rank=spec.get("lora_rank"),
                    train_text_encoder=spec.get("train_text_encoder", False))
                row["trainable_numbers"] = history.meta["trainable_parameters"]
                if spec.get("lora_rank"):
                    row["saved_bytes"] = dreambooth.save_lora(parts.unet, tmp).stat().st_size
                else:
                    parts.unet.save_pretrained(Path(tmp) / "unet", safe_serialization=True)
                    row["saved_bytes"] = folder_bytes(Path(tmp) / "unet")
                    if spec.get("train_text_encoder"):
                        parts.text_encoder.save_pretrained(Path(tmp) / "text_encoder",
                                                           safe_serialization=True)
                        row["saved_bytes"] += folder_bytes(Path(tmp) / "text_encoder")
            else:
                history = textual_inversion.train_textual_inversion(
                    parts, reference, reference_digits, config, batch_size=BATCH_SIZE)
                row["trainable_numbers"] = history.meta["learned_numbers"]
                row["saved_bytes"] = textual_inversion.save_textual_inversion(parts, tmp).stat().st_size
                prompt = textual_inversion.ti_prompt
        row["train_cpu_s"] = history.meta["cpu_seconds"]
        row["train_wall_s"] = history.meta["wall_seconds"]
        row["final_loss"] = statistics.fmean(history["loss"][-20:])
    start = time.process_time()
    measures, samples = personalization_measures(parts, prompt, baseline=baseline,
                                                 n_per_digit=n_per_digit, seed=100 + seed)
    row["eval_cpu_s"] = time.process_time() - start
    row.update(measures)
    return row, samples


COLUMNS = [  # (key, header, format)
    ("trainable_numbers", "trained numbers", ",.0f"),
    ("saved_bytes", "saved bytes", ",.0f"),
    ("train_cpu_s", "train CPU s", ".1f"),
    ("style_seen", "style 3/7", ".2f"),
    ("style_unseen", "style other digits", ".2f"),
    ("dist_seen", "dist 3/7", ".1f"),
    ("dist_unseen", "dist other", ".1f"),
    ("subject_accuracy", "subject acc", ".2f"),
    ("plain_accuracy", "plain acc (10 digits)", ".2f"),
    ("plain_style_seen", "plain style 3/7", ".2f"),
    ("class_drift", "class drift", ".1f"),
    ("spread_subject", "spread subject", ".1f"),
    ("spread_plain", "spread plain", ".1f"),
    ("fid_subject", "FID subject", ".1f"),
    ("fid_plain", "FID plain", ".1f"),
]


def mean_std(values, fmt: str) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def markdown(rows: list[dict], sweep: list[dict], info: dict, args) -> str:
    lines = [
        "# Personalization (chapter 08)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']} "
        f"({info['torch_threads']} thread). Load average at start "
        f"{info['load_average_at_start'][0]:.1f}: **the CPU was shared with other jobs**; CPU "
        "seconds are the fair cost, wall seconds (in the JSON) are upper bounds. No GPU.",
        "",
        "Model: " + ("the shipped `digits-t2i`" if args.model is None else
                     f"`{args.model}` (not the shipped checkpoint)") + ".",
        "",
    ]
    if sweep:
        lines += [
            "## Classifier-free guidance sweep",
            "",
            f"`guidance.guidance_sweep`, 20 samples per digit, DDIM 20 steps, seeds "
            f"{', '.join(map(str, sorted({r['seed'] for r in sweep})))} (mean ± std).",
            "",
            "| w | accuracy | digits-FID (test) | within-class spread | ink | sampling CPU s |",
            "|---:|---|---|---|---|---|",
        ]
        for w in sorted({r["guidance_scale"] for r in sweep}):
            rs = [r for r in sweep if r["guidance_scale"] == w]
            lines.append(f"| {w:g} | {mean_std([r['accuracy'] for r in rs], '.3f')} "
                         f"| {mean_std([r['fid'] for r in rs], '.1f')} "
                         f"| {mean_std([r['diversity'] for r in rs], '.1f')} "
                         f"| {mean_std([r['ink'] for r in rs], '.3f')} "
                         f"| {mean_std([r['cpu_seconds'] for r in rs], '.1f')} |")
        lines.append("")
    lines += [
        "## Personalization variants",
        "",
        f"Subject: the bold-italic style, 4 reference images (two 3s, two 7s). Seeds "
        f"{', '.join(map(str, sorted({r['seed'] for r in rows})))} (mean ± std over the seeds "
        f"each row lists in the JSON); {args.n_per_digit} samples per "
        "digit and prompt, guidance 3, DDIM 20 steps. Settings: "
        + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items() if v) + f"; batch {BATCH_SIZE} "
        f"subject (+ {BATCH_SIZE} class) images; class images: 25 of each reference digit, "
        "5 of each other digit.",
        "",
        "| variant | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for name in VARIANTS:
        rs = [r for r in rows if r["variant"] == name]
        if rs:
            lines.append(f"| {name} | " + " | ".join(
                mean_std([r.get(k) for r in rs], fmt) for k, _, fmt in COLUMNS) + " |")
    lines += [
        "",
        "Columns: *style* = mean closed-form style score of samples of \"a handwritten sks "
        "digit k\" (textual inversion: its new word) for the reference digits 3/7 and for the "
        "eight other digits (0 = plain digits, 1 = the style); *dist* = mean feature distance "
        "to the stylized real digits of the same class (lower = closer to the style); "
        "*subject acc* = the classifier reads the prompted digit in subject samples; *plain "
        "acc* = the same for plain prompts \"a handwritten digit k\", all ten digits (prior "
        "preservation); *plain style 3/7* = style score of the plain prompts of the reference "
        "classes (language drift: 0 = none); *class drift* = paired feature distance between "
        "the plain 3/7 samples after and before fine-tuning from the same noise; *spread* = "
        "within-class spread (diversity; real test digits about 15); *FID subject* = "
        "digits-FID of subject samples against the stylized test digits, *FID plain* = plain "
        "samples against the real test digits.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-per-digit", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=None, help="a digits-t2i folder (default: shipped)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--sweep-seeds", type=int, nargs="+", default=None,
                        help="seeds of the guidance sweep (default: --seeds)")
    parser.add_argument("--tag", default="personalization")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the markdown table from results/<tag>.json")
    args = parser.parse_args(argv)
    if args.render_only:
        saved = json.loads((RESULTS / f"{args.tag}.json").read_text())
        args.seeds = saved["args"]["seeds"]
        args.n_per_digit = saved["args"]["n_per_digit"]
        args.model = saved["args"]["model"]
        text = markdown(saved["runs"], saved["sweep"], saved["machine"], args)
        (RESULTS / f"{args.tag}.md").write_text(text)
        print(text)
        return 0
    torch.set_num_threads(args.threads)

    from genlab.finetune import dreambooth
    from genlab.finetune.guidance import guidance_sweep
    from genlab.finetune.style import reference_set
    from genlab.pretrained.digits_t2i import quiet_hf

    quiet_hf()
    info = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    reference, reference_digits = reference_set()
    sweep, rows = [], []
    if not args.no_sweep:
        parts = load(args.model)
        for seed in args.sweep_seeds or args.seeds:
            for r in guidance_sweep(parts, (1.0, 2.0, 3.0, 5.0, 8.0), 20, seed):
                sweep.append({"seed": seed, **r})
                print(json.dumps(sweep[-1]), flush=True)
    for seed in args.seeds:
        start = time.process_time()
        class_set = dreambooth.generate_class_images(load(args.model), CLASS_DIGITS,
                                                     CLASS_IMAGES_PER_ENTRY, seed=seed)
        class_cpu = time.process_time() - start
        baseline = None
        for name in ["base model"] + [v for v in args.variants if v != "base model"]:
            if name != "base model" and name not in args.variants:
                continue
            row, samples = run_variant(name, VARIANTS[name], seed, args.model, reference,
                                       reference_digits, class_set, baseline, args.n_per_digit)
            if name == "base model":
                baseline = samples
            if VARIANTS[name].get("prior"):
                row["class_images_cpu_s"] = class_cpu
            rows.append(row)
            print(json.dumps(row), flush=True)
            (RESULTS / f"{args.tag}.json").write_text(json.dumps(
                {"machine": info, "args": vars(args), "variants": VARIANTS, "sweep": sweep,
                 "runs": rows}, indent=1))
    text = markdown(rows, sweep, info, args)
    (RESULTS / f"{args.tag}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
