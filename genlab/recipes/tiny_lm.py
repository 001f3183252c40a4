"""Recipe and builder of the tiny general-English Llama (:mod:`genlab.pretrained.tiny_lm`).

``python -m genlab.pretrained build tiny-llama-general`` calls :func:`build`: it trains
the model from its ``transformers`` config on the generated *general* corpus with the
course's fine-tuning loop, writes the ``save_pretrained`` folder and records the SHA-256
of every file in ``registry.json``.

Reproducibility, as for the digits feature network: float64 training on one thread with
seeded generators and deterministic algorithms, float32 storage, so a rebuild gives the
same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from genlab.data import text
from genlab.device import deterministic_cpu
from genlab.finetune.loop import TrainConfig, finetune
from genlab.losses.lm import causal_lm_loss, perplexity
from genlab.pretrained import store
from genlab.pretrained.tiny_lm import NAME, REBUILD, model_dir

RECIPE = {
    "architecture": "LlamaForCausalLM",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "max_position_embeddings": 64,
    "tie_word_embeddings": True,
    "corpus": "genlab.data.text general/train (20,000 sentences, 0.5% legal)",
    "block_size": 32,
    "steps": 1500,
    "batch_size": 32,
    "lr": 3e-3,
    "warmup_steps": 50,
    "schedule": "linear",
    "seed": 0,
    "train_dtype": "float64",
    "stored_dtype": "float32",
}
MAX_GENERAL_PPL = 3.2  # a full build reaches about 2.7: a clear margin, not a tight bound


def make_config(vocab_size: int, recipe: dict | None = None):
    """The ``LlamaConfig`` of the recipe (pad 0, bos = eos = 1, as the tokenizer has them)."""
    from transformers import LlamaConfig

    r = {**RECIPE, **(recipe or {})}
    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=r["hidden_size"],
        intermediate_size=r["intermediate_size"], num_hidden_layers=r["num_hidden_layers"],
        num_attention_heads=r["num_attention_heads"],
        num_key_value_heads=r["num_attention_heads"],
        max_position_embeddings=r["max_position_embeddings"],
        tie_word_embeddings=r["tie_word_embeddings"],
        pad_token_id=0, bos_token_id=1, eos_token_id=1)


def train_tiny_lm(recipe: dict | None = None, verbose: bool = False):
    """Pretrain the model by ``recipe`` (default :data:`RECIPE`) with the course's fine-tuning loop.

    Returns ``(model, tokenizer)``: a float32 ``LlamaForCausalLM`` in eval mode on the CPU.
    """
    from transformers import LlamaForCausalLM

    r = {**RECIPE, **(recipe or {})}
    tokenizer = text.build_tokenizer(max_length=r["max_position_embeddings"])
    blocks = text.pack_blocks(text.load_corpus("general", "train"), tokenizer, r["block_size"])
    with deterministic_cpu():
        torch.manual_seed(r["seed"])
        model = LlamaForCausalLM(make_config(len(tokenizer), r)).double()
        generator = torch.Generator().manual_seed(r["seed"])

        def batch(_step):
            return blocks[torch.randint(len(blocks), (r["batch_size"],), generator=generator)]

        config = TrainConfig(steps=r["steps"], lr=r["lr"], warmup_steps=r["warmup_steps"],
                             schedule=r["schedule"], seed=r["seed"], cpu=True,
                             log_every=max(1, r["steps"] // 20), progress=verbose)
        history = finetune(model, causal_lm_loss, batch, config)
    if verbose:
        print(f"pretraining: {history.meta['cpu_seconds']:.0f} CPU s, "
              f"final loss {history.last('loss'):.3f}")
    return model.float().eval(), tokenizer


def evaluate(model, tokenizer) -> dict:
    """General and legal test perplexity of ``model`` (the numbers the registry records)."""
    return {f"{register}_test_ppl": round(perplexity(
        model, text.pack_blocks(text.load_corpus(register, "test"), tokenizer)), 4)
        for register in ("general", "legal")}


def build(folder: str | Path | None = None, verbose: bool = True,
          recipe: dict | None = None) -> Path:
    """Train, check, save ``tiny_llama_general/`` and record every file's hash in the registry.

    ``folder`` defaults to the installed package; tests pass a temporary folder and a
    short ``recipe`` (e.g. ``{"steps": 3}``), which skips the quality check. Raises
    ``RuntimeError`` if a full build's general perplexity exceeds :data:`MAX_GENERAL_PPL`.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    r = {**RECIPE, **(recipe or {})}
    folder = Path(folder or store.package_dir())
    model, tokenizer = train_tiny_lm(r, verbose=verbose)
    scores = evaluate(model, tokenizer)
    if r["steps"] == RECIPE["steps"] and scores["general_test_ppl"] > MAX_GENERAL_PPL:
        raise RuntimeError(f"the tiny LM reached general perplexity "
                           f"{scores['general_test_ppl']:.2f} > {MAX_GENERAL_PPL}; "
                           "the recipe needs changing")
    out = model_dir(folder)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    entry = store.record(folder, NAME, out, REBUILD,
                         parameters=sum(p.numel() for p in model.parameters()), **scores,
                         recipe=r)
    if verbose:
        print(f"wrote {out} ({entry['bytes']:,} bytes), {scores}")
    return out
