"""Fine-tune a causal language model on the course's legal corpus, on one or many processes.

    python -m genlab.finetune lm --method lora
    python -m genlab.finetune lm --method full --model genlab/pretrained/tiny_llama_general --steps 200
    torchrun --nproc_per_node 2 -m genlab.finetune lm --method lora --cpu
    accelerate launch --multi_gpu --num_processes 2 -m genlab.finetune lm --method lora
    python -m genlab.finetune lm --method lora --model meta-llama/Llama-3.2-1B \\
        --mixed-precision bf16 --lr 2e-4 --batch-size 8 --out runs/llama-lora    # on a GPU

``--model`` is a local ``save_pretrained`` folder or a hub id (``from_pretrained`` reads
either; with ``HF_HUB_OFFLINE=1`` only local folders and the cache work). The default is
the shipped tiny Llama, hash-checked. ``--batch-size`` is the *global* batch: each of
``k`` processes takes ``batch-size / k`` blocks, so results match a one-process run.
Prints (on the main process) trainable parameters, CPU seconds and the domain and
general test perplexity; ``--json`` writes them with the loss of every update;
``--out`` saves what the method trained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from genlab.finetune.lm import DEFAULT_LR, METHODS, run_lm


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genlab.finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="recipe", required=True)
    lm = sub.add_parser("lm", help="causal LM on the legal corpus (chapter 07)")
    lm.add_argument("--method", required=True, choices=METHODS)
    lm.add_argument("--model", default=None,
                    help="local folder or hub id (default: the shipped tiny-llama-general)")
    lm.add_argument("--steps", type=int, default=100, help="optimizer updates (default 100)")
    lm.add_argument("--batch-size", type=int, default=16,
                    help="global batch in blocks of 32 tokens (default 16)")
    lm.add_argument("--lr", type=float, default=None,
                    help="learning rate (default per method: "
                         + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    lm.add_argument("--warmup-steps", type=int, default=10)
    lm.add_argument("--grad-accum", type=int, default=1, help="micro-batches per update")
    lm.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    lm.add_argument("--seed", type=int, default=0)
    lm.add_argument("--cpu", action="store_true", help="stay on the CPU even with a GPU")
    lm.add_argument("--rank", type=int, default=8, help="LoRA rank r (default 8)")
    lm.add_argument("--lora-alpha", type=float, default=16.0)
    lm.add_argument("--target-modules", nargs="+", default=None,
                    help="LoRA targets (default q_proj v_proj)")
    lm.add_argument("--eval-blocks", type=int, default=None,
                    help="evaluate on the first N test blocks only (default: all)")
    lm.add_argument("--out", default=None, help="folder to save the trained part to")
    lm.add_argument("--json", default=None, help="file to write the results to")
    lm.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.model is None or os.path.isdir(args.model):
        # A local model needs no network: never wait for a hub time-out (read at import).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    options = {}
    if args.method == "lora":
        options = {"r": args.rank, "lora_alpha": args.lora_alpha,
                   "target_modules": args.target_modules}
    main_process = int(os.environ.get("RANK", "0")) == 0
    result = run_lm(args.method, args.model, steps=args.steps, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed, warmup_steps=args.warmup_steps,
                    eval_blocks=args.eval_blocks, out=args.out if main_process else None,
                    cpu=args.cpu, mixed_precision=args.mixed_precision,
                    grad_accum_steps=args.grad_accum,
                    progress=False if args.no_progress else None, **options)
    history = result["history"]
    summary = {
        "method": args.method,
        "model": args.model or "tiny-llama-general",
        "num_processes": result["num_processes"],
        "trainable_parameters": result["trainable_parameters"],
        "cpu_seconds": round(result["cpu_seconds"], 3),
        "domain_ppl": result["domain_ppl"],
        "general_ppl": result["general_ppl"],
        "checkpoint_bytes": result.get("checkpoint_bytes"),
        "steps": history.steps["loss"],
        "loss": history["loss"],
    }
    if main_process:
        print(f"{args.method}: {summary['trainable_parameters']:,} trainable parameters, "
              f"{summary['num_processes']} process(es), {summary['cpu_seconds']:.1f} CPU s, "
              f"domain perplexity {summary['domain_ppl']:.3f}, "
              f"general perplexity {summary['general_ppl']:.3f}")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
