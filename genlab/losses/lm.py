"""Causal language models' loss and perplexity.

Perplexity is ``exp`` of the mean next-token cross-entropy over all predicted tokens of a
set of blocks; with ``B`` blocks of ``T`` tokens that is ``B (T - 1)`` predictions.
Used by the fine-tuning recipes (:mod:`genlab.finetune.lm`) and by the builder of the
shipped tiny language model; ``genlab.finetune.lm`` re-exports both names.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genlab._checks import check_int


def _input_ids(batch) -> torch.Tensor:
    if isinstance(batch, torch.Tensor):
        ids = batch
    elif isinstance(batch, dict) and "input_ids" in batch:
        ids = batch["input_ids"]
    else:
        raise TypeError("batch must be a (batch, seq) tensor of token ids or a dict with "
                        f"'input_ids', got {type(batch).__name__}")
    if ids.ndim != 2 or ids.dtype != torch.long:
        raise ValueError(f"token ids must be a (batch, seq) long tensor, got shape "
                         f"{tuple(ids.shape)} and dtype {ids.dtype}")
    return ids


def causal_lm_loss(model: nn.Module, batch) -> torch.Tensor:
    """Mean next-token cross-entropy (nats per token) of ``model`` on ``batch``.

    ``batch``: token ids ``(batch, seq)`` or a dict with ``input_ids`` (and optionally
    ``attention_mask``, ``labels``). The labels default to the inputs: Hugging Face causal
    LMs shift them by one inside (position t predicts token t + 1).
    """
    if isinstance(batch, dict):
        ids = _input_ids(batch)
        return model(input_ids=ids, attention_mask=batch.get("attention_mask"),
                     labels=batch.get("labels", ids)).loss
    ids = _input_ids(batch)
    return model(input_ids=ids, labels=ids).loss


@torch.no_grad()
def perplexity(model: nn.Module, blocks: torch.Tensor, batch_size: int = 64) -> float:
    """``exp`` of the mean next-token cross-entropy of ``model`` over ``blocks`` ``(n, seq)``.

    Every block has the same length, so each batch's mean is weighted by its number of
    blocks. The model is evaluated in eval mode (its mode is restored) on its own device.
    """
    ids = _input_ids(blocks)
    check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for start in range(0, len(ids), batch_size):
            chunk = ids[start:start + batch_size].to(device)
            total += causal_lm_loss(model, chunk).double().item() * len(chunk)
    finally:
        model.train(was_training)
    return math.exp(total / len(ids))
