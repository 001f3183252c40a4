"""Prompt tuning by hand: trainable virtual tokens prepended to the input (chapter 07, section 7).

Lester et al. 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning": the whole
model stays frozen; only ``P`` "virtual token" embeddings of size ``dim`` are learned and
put in front of every input's embeddings. The attention mask gets ``P`` ones in front
(the real tokens may attend to the prompt) and the labels get ``P`` ignored positions
(``-100``: nothing is predicted for the prompt). That is all PEFT's
``PromptTuningConfig`` does; the tests check :class:`PromptTuning` against it on the same
prompt. P-tuning (Liu et al. 2021) produces the virtual tokens with a small MLP instead;
prefix tuning (Li and Liang 2021) learns keys and values for every layer, which reaches
much deeper into a small model.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab._checks import check_choice, check_int, check_tensor

IGNORE_INDEX = -100  # the label value torch's cross-entropy skips


def prepend_virtual_tokens(inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None,
                           virtual_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Put ``virtual_tokens`` in front of every sequence and extend the attention mask.

    inputs_embeds: ``(batch, seq, dim)``; attention_mask: ``(batch, seq)`` of 0/1 (None: all
    ones); virtual_tokens: ``(num_virtual, dim)``. Returns ``(embeds, mask)`` of shapes
    ``(batch, num_virtual + seq, dim)`` and ``(batch, num_virtual + seq)``; the mask keeps
    the dtype of ``attention_mask`` (long if None) and is 1 on the virtual tokens. The
    gradient flows into ``virtual_tokens``.
    """
    check_tensor("inputs_embeds", inputs_embeds, ndim=3, finite=False)
    check_tensor("virtual_tokens", virtual_tokens, ndim=2, finite=False)
    batch, seq, dim = inputs_embeds.shape
    if virtual_tokens.shape[1] != dim:
        raise ValueError(f"virtual_tokens must have {dim} features like inputs_embeds, "
                         f"got shape {tuple(virtual_tokens.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones(batch, seq, dtype=torch.long, device=inputs_embeds.device)
    elif tuple(attention_mask.shape) != (batch, seq):
        raise ValueError(f"attention_mask must have shape {(batch, seq)}, "
                         f"got {tuple(attention_mask.shape)}")
    prompt = virtual_tokens.to(inputs_embeds.dtype).unsqueeze(0).expand(batch, -1, -1)
    ones = torch.ones(batch, virtual_tokens.shape[0], dtype=attention_mask.dtype,
                      device=attention_mask.device)
    return torch.cat([prompt, inputs_embeds], dim=1), torch.cat([ones, attention_mask], dim=1)


class PromptTuning(nn.Module):
    """A frozen causal LM with ``num_virtual_tokens`` trainable prompt embeddings in front.

    ``init``: ``"vocab"`` (rows of the embedding matrix drawn at random, Lester et al.'s
    recommended start), ``"random"`` (uniform in [-0.5, 0.5]), or a 1-D tensor of token ids
    (e.g. an instruction such as "the tenant shall pay"; repeated to fill the prompt).
    ``forward(input_ids, attention_mask=None, labels=None)`` returns the model's output
    over ``num_virtual_tokens + seq`` positions; its ``.loss`` covers the real tokens only.
    """

    def __init__(self, model: nn.Module, num_virtual_tokens: int = 10, init="vocab",
                 generator: torch.Generator | None = None):
        super().__init__()
        check_int("num_virtual_tokens", num_virtual_tokens, minimum=1)
        self.model = model
        model.requires_grad_(False)
        table = model.get_input_embeddings().weight
        n, dim = num_virtual_tokens, table.shape[1]
        if isinstance(init, torch.Tensor):
            if init.ndim != 1 or init.numel() == 0 or init.dtype != torch.long:
                raise ValueError("init as a tensor must be a non-empty 1-D tensor of token ids")
            ids = init.repeat(n // init.numel() + 1)[:n].to(table.device)
            start = table[ids].detach().clone()
        else:
            check_choice("init", init, ["vocab", "random"])
            if init == "vocab":
                ids = torch.randint(table.shape[0], (n,), generator=generator)
                start = table[ids.to(table.device)].detach().clone()
            else:
                start = torch.rand(n, dim, generator=generator, dtype=table.dtype) - 0.5
        self.prompt = nn.Parameter(start.to(table.device))

    @property
    def num_virtual_tokens(self) -> int:
        return self.prompt.shape[0]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs):
        embeds = self.model.get_input_embeddings()(input_ids)
        embeds, mask = prepend_virtual_tokens(embeds, attention_mask, self.prompt)
        if labels is not None:
            ignored = torch.full((labels.shape[0], self.num_virtual_tokens), IGNORE_INDEX,
                                 dtype=labels.dtype, device=labels.device)
            labels = torch.cat([ignored, labels], dim=1)
        return self.model(inputs_embeds=embeds, attention_mask=mask, labels=labels, **kwargs)

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()
