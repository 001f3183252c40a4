"""The tiny general-English language model that chapter 07 fine-tunes: a ``LlamaForCausalLM``.

``python -m genlab.pretrained build tiny-llama-general`` trains it from its
``transformers`` config on the generated *general* corpus (:mod:`genlab.data.text`, which
holds a 0.5% trace of legal clauses) and writes a ``save_pretrained`` folder,
``tiny_llama_general/``: ``config.json``, ``generation_config.json``,
``model.safetensors`` and the word-level tokenizer (``tokenizer.json``,
``tokenizer_config.json``). The SHA-256 of every file goes into ``registry.json``;
:func:`verify` checks them before :func:`load_tiny_lm` calls
``LlamaForCausalLM.from_pretrained(<folder>)``, the very call that loads a hub checkpoint.

Architecture: 4 Llama blocks of width 64 (4 heads, SwiGLU MLP of 128, RMSNorm, rotary
positions), tied input and output embeddings, vocabulary of 193 words: 176,768
parameters, about 700 KB in float32.

Reproducibility, as for the digits feature network: float64 training on one thread with
seeded generators and deterministic algorithms, float32 storage, so a rebuild gives the
same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from genlab.pretrained.digits_features import (
    REGISTRY,
    ChecksumError,
    _deterministic_cpu,
    package_dir,
    read_registry,
    sha256_of_file,
)

NAME = "tiny-llama-general"
FOLDER = "tiny_llama_general"
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
REBUILD = "python -m genlab.pretrained build tiny-llama-general"


def model_dir(folder: str | Path | None = None) -> Path:
    """Where the model's ``save_pretrained`` folder lives (inside ``folder`` or the package)."""
    return Path(folder or package_dir()) / FOLDER


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

    from genlab.data import text
    from genlab.finetune.lm import causal_lm_loss
    from genlab.finetune.loop import TrainConfig, finetune

    r = {**RECIPE, **(recipe or {})}
    tokenizer = text.build_tokenizer(max_length=r["max_position_embeddings"])
    blocks = text.pack_blocks(text.load_corpus("general", "train"), tokenizer, r["block_size"])
    with _deterministic_cpu():
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
    from genlab.data import text
    from genlab.finetune.lm import perplexity

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
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    r = {**RECIPE, **(recipe or {})}
    folder = Path(folder or package_dir())
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
    files = {p.name: sha256_of_file(p) for p in sorted(out.iterdir()) if p.is_file()}
    registry = read_registry(folder)
    registry[NAME] = {
        "file": f"{FOLDER}/model.safetensors",
        "folder": FOLDER,
        "files": files,
        "sha256": files["model.safetensors"],
        "bytes": sum((out / n).stat().st_size for n in files),
        "parameters": sum(p.numel() for p in model.parameters()),
        **scores,
        "recipe": r,
        "rebuild": REBUILD,
    }
    (folder / REGISTRY).write_text(json.dumps(registry, indent=2) + "\n", encoding="utf-8")
    if verbose:
        print(f"wrote {out} ({registry[NAME]['bytes']:,} bytes), {scores}")
    return out


def verify(folder: str | Path | None = None) -> Path:
    """Check every file of the model folder against the registry; return the folder.

    Raises ``FileNotFoundError`` when the entry or a file is missing, ``ChecksumError``
    when a file's bytes differ from what was recorded or the folder holds extra files.
    """
    folder = Path(folder or package_dir())
    entry = read_registry(folder).get(NAME)
    if entry is None:
        raise FileNotFoundError(f"no {NAME!r} entry in {folder / REGISTRY}; run `{REBUILD}`")
    out = folder / entry["folder"]
    for name, expected in entry["files"].items():
        path = out / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; run `{REBUILD}`")
        actual = sha256_of_file(path)
        if actual != expected:
            raise ChecksumError(
                f"{path} has SHA-256 {actual} but the registry records {expected}: the file "
                f"is corrupted or was replaced. Rebuild it with `{REBUILD}`.")
    extra = sorted(p.name for p in out.iterdir() if p.is_file() and p.name not in entry["files"])
    if extra:
        raise ChecksumError(f"{out} holds files the registry does not know: {extra}")
    return out


def load_tiny_lm(folder: str | Path | None = None, device: str | torch.device = "cpu"):
    """``(model, tokenizer)``: the shipped model, hash-verified, from ``from_pretrained(folder)``.

    A fresh copy on every call (fine-tuning changes it), in eval mode as
    ``from_pretrained`` returns it; the fine-tuning loop switches it to train mode.
    """
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, LlamaForCausalLM

    path = verify(folder)
    model = LlamaForCausalLM.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return model.to(device), tokenizer

