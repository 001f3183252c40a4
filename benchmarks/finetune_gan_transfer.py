"""Benchmark of chapter 07, section 9: few-shot GAN transfer with validation and test apart.

    nice -n 10 python benchmarks/finetune_gan_transfer.py [--seeds 0 1 2] [--steps 600]

The shipped 0-8 digits DCGAN fine-tuned on 20 nines (``few_shot_split(20, 80)``: 20
training, 80 validation and 80 test nines, disjoint) with ``transfer_gan`` at the chapter's
settings (Adam 2e-3 for both networks, batch 20). One setting changes per run: full
fine-tuning, FreezeD with D's first conv frozen (Mo et al. 2020), D's two convs frozen.
Every ``--eval-every`` steps the generator's 80 samples (a fixed noise batch) are scored
against the validation nines (early stopping selects the step on these) and the test
nines (reported only). The training seed varies noise and batches; the split is fixed.

Reports per setting (mean ± std over seeds): the selected step, the validation FID there,
the **test** FID there (the honest number), the test FID of the same generator over ten
other noise batches (its own spread), the last step's test FID, where ``patience`` 3 would
have stopped, the final FID to the test split's 0-8 (forgetting), and the training CPU
seconds. The yard stick: real nines against real nines at the same sizes (80 against 80,
``real_fid_floor`` over 20 random splits of the 160 non-training nines).

Writes benchmarks/results/finetune_gan_transfer.json (every run with its curves, the
floor draws, the machine and the date) and finetune_gan_transfer.md. The numbers measure
quality, not time: run under ``nice`` on a shared machine; CPU seconds are upper bounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import statistics
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
SETTINGS = {"full fine-tuning": 0, "FreezeD: D's first conv frozen": 1,
            "D's two convs frozen (head only)": 2}
N_SAMPLES = 80  # the generator's samples per evaluation = the size of each real set


def machine() -> dict:
    return dict(platform=platform.platform(), python=platform.python_version(),
                torch=torch.__version__, cpu_count=os.cpu_count(),
                torch_threads=torch.get_num_threads(),
                load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
                date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                note="shared CPU, run under nice: CPU seconds are upper bounds")


def run_one(split, freeze_d: int, seed: int, steps: int, eval_every: int) -> dict:
    from genlab.finetune import gan_transfer as gt
    from genlab.pretrained.dcgan_digits_0to8 import load_dcgan_digits_0to8

    train, validation, test = split
    evaluator = gt.TransferEvaluator(train, validation, n_samples=N_SAMPLES, test=test)
    config = gt.TransferConfig(steps=steps, lr=2e-3, eval_every=eval_every, freeze_d=freeze_d,
                               seed=seed, progress=False)
    G, D = load_dcgan_digits_0to8("cpu")
    history = gt.transfer_gan(G, D, train, validation, config, evaluator=evaluator)
    steps_logged = history.steps["fid_nines"]
    best = history.meta["best_step"]
    at_best = steps_logged.index(best)
    # G holds the selected weights: its test FID over ten other noise batches
    other_noise = [gt.TransferEvaluator(train, validation, n_samples=N_SAMPLES, seed=100 + k,
                                        test=test)(G)["fid_test"] for k in range(10)]
    return dict(
        freeze_d=freeze_d, seed=seed, steps=steps, best_step=best,
        val_fid_at_best=history["fid_nines"][at_best], test_fid_at_best=history["fid_test"][at_best],
        test_fid_other_noise=other_noise, test_fid_last=history["fid_test"][-1],
        val_fid_last=history["fid_nines"][-1], fid_0to8_last=history["fid_0to8"][-1],
        share_nine_at_best=history["share_nine"][at_best],
        patience3_stop_step=gt.patience_stop_step(history, 3),
        train_cpu_s=history.meta["train_seconds"],
        frozen_d_parameters=history.meta["frozen_d_parameters"],
        curves={k: {"steps": history.steps[k], "values": history[k]}
                for k in ("fid_nines", "fid_test", "fid_0to8", "nn_train", "nn_held_out")})


def _ms(values, digits=1) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def table(record: dict) -> str:
    info, floor, runs = record["machine"], record["floor"], record["runs"]
    lines = [
        "# Few-shot GAN transfer, validation and test apart (chapter 07, section 9)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']}; "
        f"{info['date']}; {info['note']}.",
        "",
        f"The 0-8 DCGAN fine-tuned on 20 nines, {runs[0]['steps']} steps, Adam 2e-3; "
        f"{N_SAMPLES} generated samples against 80 validation nines (selection) and 80 test "
        f"nines (reported). Seeds {', '.join(str(s) for s in sorted({r['seed'] for r in runs}))}; "
        "mean ± std over seeds. Written by benchmarks/finetune_gan_transfer.py.",
        "",
        f"Yard stick, real nines against real nines, 80 against 80 (20 random splits of the 160 "
        f"non-training nines): FID {statistics.fmean(floor):.1f}, range {min(floor):.1f}-"
        f"{max(floor):.1f}. The 20 training nines against the 80 test nines: "
        f"{record['train_vs_test']:.1f} (20 samples: not comparable with the rows below).",
        "",
        "| setting | selected step (validation) | validation FID there | **test FID there** | "
        "test FID, 10 other noise batches | test FID, last step | patience 3 stops at | "
        "FID to 0-8, last | train CPU s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, freeze_d in SETTINGS.items():
        rs = [r for r in runs if r["freeze_d"] == freeze_d]
        if not rs:
            continue
        other = [v for r in rs for v in r["test_fid_other_noise"]]
        stops = [r["patience3_stop_step"] for r in rs]
        lines.append(
            f"| {name} | {_ms([r['best_step'] for r in rs], 0)} | "
            f"{_ms([r['val_fid_at_best'] for r in rs])} | {_ms([r['test_fid_at_best'] for r in rs])} | "
            f"{_ms(other)} (range {min(other):.1f}-{max(other):.1f}) | "
            f"{_ms([r['test_fid_last'] for r in rs])} | {', '.join(str(s) for s in stops)} | "
            f"{_ms([r['fid_0to8_last'] for r in rs], 0)} | {_ms([r['train_cpu_s'] for r in rs])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--settings", type=int, nargs="+", default=list(SETTINGS.values()),
                        help="freeze_d values to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from genlab.finetune import gan_transfer as gt
    from genlab.metrics.fid import digits_features, fid_from_features

    split = gt.few_shot_split(20, 80, seed=0)
    train, validation, test = split
    floor = gt.real_fid_floor(torch.cat([validation, test]), 80, 80, draws=20).tolist()
    train_vs_test = fid_from_features(digits_features(test), digits_features(train))
    runs = []
    for freeze_d in args.settings:
        for seed in args.seeds:
            run = run_one(split, freeze_d, seed, args.steps, args.eval_every)
            runs.append(run)
            print(json.dumps({k: (round(v, 2) if isinstance(v, float) else v)
                              for k, v in run.items() if k not in ("curves", "test_fid_other_noise")}),
                  flush=True)
    record = {"machine": machine(), "floor": floor, "train_vs_test": train_vs_test,
              "n_samples": N_SAMPLES, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "finetune_gan_transfer.json").write_text(json.dumps(record, indent=1) + "\n")
    (RESULTS / "finetune_gan_transfer.md").write_text(table(record))
    print(table(record))


if __name__ == "__main__":
    main()
