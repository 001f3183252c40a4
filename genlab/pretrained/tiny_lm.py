"""The tiny general-English language model that chapter 07 fine-tunes: a ``LlamaForCausalLM``.

``python -m genlab.pretrained build tiny-llama-general`` (:mod:`genlab.recipes.tiny_lm`)
trains it from its
``transformers`` config on the generated *general* corpus (:mod:`genlab.data.text`, which
holds a 0.5% trace of legal clauses) and writes a ``save_pretrained`` folder,
``tiny_llama_general/``: ``config.json``, ``generation_config.json``,
``model.safetensors`` and the word-level tokenizer (``tokenizer.json``,
``tokenizer_config.json``). The SHA-256 of every file goes into ``registry.json``;
:func:`verify` checks them (and that the folder holds no other file) before :func:`load_tiny_lm` calls
``LlamaForCausalLM.from_pretrained(<folder>)``, the very call that loads a hub checkpoint.

Architecture: 4 Llama blocks of width 64 (4 heads, SwiGLU MLP of 128, RMSNorm, rotary
positions), tied input and output embeddings, vocabulary of 193 words: 176,768
parameters, about 700 KB in float32.

Reproducibility, as for the digits feature network: float64 training on one thread with
seeded generators and deterministic algorithms, float32 storage, so a rebuild gives the
same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from genlab.pretrained import store
from genlab.pretrained.store import ChecksumError, package_dir  # noqa: F401

NAME = "tiny-llama-general"
FOLDER = "tiny_llama_general"
REBUILD = store.rebuild_command(NAME)


def model_dir(folder: str | Path | None = None) -> Path:
    """Where the model's ``save_pretrained`` folder lives (inside ``folder`` or the package)."""
    return Path(folder or package_dir()) / FOLDER


def verify(folder: str | Path | None = None) -> Path:
    """Check every file of the model folder against the registry of ``folder`` (default:
    the package's); return the model folder.

    Raises ``FileNotFoundError`` when the entry or a file is missing, ``ChecksumError``
    when a file's bytes differ from what was recorded or the folder holds extra files.
    """
    return store.verify(NAME, folder)


def load_tiny_lm(folder: str | Path | None = None, device: str | torch.device = "cpu"):
    """``(model, tokenizer)``: the shipped model, hash-verified, from ``from_pretrained(folder)``.

    A fresh copy on every call (fine-tuning changes it), in eval mode as
    ``from_pretrained`` returns it; the fine-tuning loop switches it to train mode.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, LlamaForCausalLM

    path = verify(folder)
    model = LlamaForCausalLM.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return model.to(device), tokenizer

