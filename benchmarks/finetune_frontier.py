"""Benchmark of chapter 07, section 8: the domain-fit / forgetting frontier of fine-tuning.

    nice -n 10 python benchmarks/finetune_frontier.py [--seeds 0 1 2] [--steps 60] [--only full lora]

The shipped tiny Llama adapted to the 150 legal training sentences with the chapter's
recipe (AdamW, batches of 16 blocks of 32 tokens, 60 updates, a 5-update linear warm-up
then linear decay, the chapter's training order), and scored on the chapter's *test*
blocks (legal test blocks 48-175: domain perplexity; general test blocks 48-175: general
perplexity, the forgetting probe). Families of runs, one setting changed per run:

- ``full``: every weight trains, learning rate 1e-4 ... 5e-3;
- ``l2sp``: the same plus L2-SP towards the pretrained weights (strength 0.5, the
  chapter's), same learning rates;
- ``lora``: PEFT LoRA on every linear layer of every block (q, k, v, o, gate, up, down),
  rank 1, 4, 16, 64 with ``lora_alpha=16``, scaling alpha / r (Hu et al. 2021), learning rate
  5e-3 ... 2e-2;
- ``rslora``: the same ranks with ``use_rslora=True``, scaling alpha / sqrt(r)
  (Kalajdzievski 2023), learning rate 5e-3;
- ``lora_qv``: the chapter's LoRA (query and value, r = 8, alpha 16, lr 5e-3), for reference;
- ``replay``: full fine-tuning at lr 2e-3 with a share of every batch of 16 taken from the
  *general* training corpus instead of the legal one (0.125, 0.25, 0.5: 2, 4 or 8 blocks);
- ``prompt``: PEFT prompt tuning, 10 virtual tokens, lr 3e-2 (the chapter's), initialized
  ``RANDOM`` (PEFT's default: N(0, 1) vectors) or ``SAMPLE_VOCAB`` (rows of the embedding
  matrix of random vocabulary words).

Each run records the trainable parameters (counted at the end), the training CPU seconds
(one thread, evaluation excluded) and both test perplexities. Writes
``benchmarks/results/finetune_frontier.json`` (every run, the pretrained model's scores,
the machine, the date) and ``finetune_frontier.md`` (means and standard deviations over
seeds). Chapter 07 plots the JSON. The numbers measure quality, not time, so the script may
run under ``nice`` on a shared machine; the CPU seconds are then upper bounds.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import statistics
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TEST = slice(48, 176)  # the chapter's test blocks (0-47 are its validation blocks)


def settings() -> list[dict]:
    """Every run of the frontier (without the seed), one changed setting per entry."""
    runs = []
    for lr in (1e-4, 3e-4, 1e-3, 2e-3, 5e-3):
        runs.append(dict(family="full", lr=lr))
        runs.append(dict(family="l2sp", lr=lr, strength=0.5))
    for r in (1, 4, 16, 64):
        for lr in (5e-3, 1e-2, 2e-2):
            runs.append(dict(family="lora", lr=lr, r=r))
        runs.append(dict(family="rslora", lr=5e-3, r=r))
    runs.append(dict(family="lora_qv", lr=5e-3, r=8))
    for share in (0.125, 0.25, 0.5):
        runs.append(dict(family="replay", lr=2e-3, replay=share))
    for init in ("RANDOM", "SAMPLE_VOCAB"):
        runs.append(dict(family="prompt", lr=3e-2, init=init))
    return runs


def machine() -> dict:
    return dict(platform=platform.platform(), processor=platform.processor(),
                python=platform.python_version(), torch=torch.__version__,
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else [],
                date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                note="shared CPU, run under nice: CPU seconds are upper bounds")


class Data:
    def __init__(self):
        from genlab.data import text
        from genlab.pretrained import tiny_lm

        self.model, tokenizer = tiny_lm.load_tiny_lm()
        self.domain_train = text.pack_blocks(text.load_corpus("legal", "train"), tokenizer)
        self.general_train = text.pack_blocks(text.load_corpus("general", "train"), tokenizer)
        self.domain_test = text.pack_blocks(text.load_corpus("legal", "test"), tokenizer)[TEST]
        self.general_test = text.pack_blocks(text.load_corpus("general", "test"), tokenizer)[TEST]

    def scores(self, model) -> dict:
        from genlab.finetune.lm import perplexity

        return {"domain_ppl": perplexity(model, self.domain_test),
                "general_ppl": perplexity(model, self.general_test)}


def replay_batches(data: Data, share: float, batch_size: int, steps: int, seed: int) -> list:
    """Batches of ``batch_size`` blocks, ``round(share * batch_size)`` of them general text.

    The legal blocks follow the chapter's order (``training_loader`` with the same seed);
    the general blocks are drawn without replacement from the general training split.
    """
    from genlab.finetune.lm import training_loader

    k = round(share * batch_size)
    domain = list(training_loader(data.domain_train, batch_size - k, steps, seed))
    g = torch.Generator().manual_seed(10_000 + seed)
    order = torch.randperm(len(data.general_train), generator=g)[:k * steps]
    general = data.general_train[order].reshape(steps, k, -1)
    return [torch.cat([d, gb]) for d, gb in zip(domain, general)]


def run_one(data: Data, setting: dict, seed: int, steps: int) -> dict:
    from genlab.finetune import lm
    from genlab.finetune.freeze import trainable_parameters
    from genlab.finetune.loop import TrainConfig, finetune

    torch.manual_seed(seed)  # LoRA's A matrices
    model = copy.deepcopy(data.model)
    family, lr = setting["family"], setting["lr"]
    loss_fn = lm.causal_lm_loss
    if family in ("full", "replay"):
        model.requires_grad_(True)
    elif family == "l2sp":
        model.requires_grad_(True)
        loss_fn = lm.l2_sp_loss(data.model.state_dict(), setting["strength"])
    elif family == "prompt":
        import peft

        model = peft.get_peft_model(model, peft.PromptTuningConfig(
            task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=10,
            prompt_tuning_init=setting["init"]))
    else:
        import peft

        targets = ["q_proj", "v_proj"] if family == "lora_qv" else ALL_LINEAR
        model = peft.get_peft_model(model, peft.LoraConfig(
            r=setting["r"], lora_alpha=16, lora_dropout=0.0, target_modules=targets,
            use_rslora=family == "rslora", task_type=peft.TaskType.CAUSAL_LM))
    config = TrainConfig(steps=steps, lr=lr, warmup_steps=min(5, steps - 1),
                         schedule="linear", seed=seed, progress=False)
    if family == "replay":
        batches = replay_batches(data, setting["replay"], 16, steps, seed)
    else:
        batches = lm.training_loader(data.domain_train, 16, steps, seed)
    history = finetune(model, loss_fn, batches, config)
    return dict(setting, seed=seed, steps=steps, trainable=trainable_parameters(model),
                train_cpu_s=history.meta["cpu_seconds"], **data.scores(model))


def label(s: dict) -> str:
    extra = {"full": "", "l2sp": f" strength {s.get('strength')}", "lora": f" r {s.get('r')}",
             "rslora": f" r {s.get('r')}", "lora_qv": f" r {s.get('r')}",
             "replay": f" share {s.get('replay')}", "prompt": f" init {s.get('init')}"}[s["family"]]
    return f"{s['family']}{extra}, lr {s['lr']:g}"


def _mean_std(values, digits=2) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def table(record: dict) -> str:
    runs, info, base = record["runs"], record["machine"], record["pretrained"]
    seeds = sorted({r["seed"] for r in runs})
    lines = [
        "# Fine-tuning frontier: domain fit against forgetting (chapter 07, section 8)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']}, "
        f"{info['torch_threads']} thread(s); {info['date']}; {info['note']} (load average "
        f"{', '.join(f'{x:.1f}' for x in info['load_average'])}).",
        "",
        f"The shipped tiny Llama, {runs[0]['steps']} updates of 16 blocks on the 150 legal "
        f"sentences; test blocks 48-175 of each corpus; seeds {', '.join(map(str, seeds))}, "
        f"mean ± standard deviation. Pretrained: domain {base['domain_ppl']:.2f}, "
        f"general {base['general_ppl']:.2f}. Written by benchmarks/finetune_frontier.py.",
        "",
        "| run | trainable | train CPU s | domain PPL | general PPL |",
        "|---|---:|---:|---:|---:|",
    ]
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(label(r), []).append(r)
    for name, rs in groups.items():
        lines.append(f"| {name} | {rs[0]['trainable']:,} | "
                     f"{statistics.fmean(r['train_cpu_s'] for r in rs):.1f} | "
                     f"{_mean_std([r['domain_ppl'] for r in rs])} | "
                     f"{_mean_std([r['general_ppl'] for r in rs])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--only", nargs="+", default=None, help="families to run")
    parser.add_argument("--merge", action="store_true",
                        help="add to the stored runs (replacing equal settings) instead of starting anew")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    data = Data()
    path = RESULTS / "finetune_frontier.json"
    runs = json.loads(path.read_text())["runs"] if args.merge and path.exists() else []
    for setting in settings():
        if args.only and setting["family"] not in args.only:
            continue
        for seed in args.seeds:
            run = run_one(data, setting, seed, args.steps)
            runs = [r for r in runs if not (label(r) == label(run) and r["seed"] == seed)]
            runs.append(run)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in run.items()}), flush=True)
    record = {"machine": machine(), "pretrained": data.scores(data.model), "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    (RESULTS / "finetune_frontier.md").write_text(table(record))
    print(table(record))


if __name__ == "__main__":
    main()
