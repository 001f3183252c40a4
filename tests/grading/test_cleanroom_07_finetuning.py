"""Chapter 07's exercises in the clean room: right answers written another way score,
plausible wrong ones and delegating ones do not."""

from __future__ import annotations

import pytest
from cleanroom_cases import grade_cells

CHAPTER = "07_finetuning"

CASES = {
    "lora_forward": {
        "test": "test_lora_forward", "points": 3,
        "right": '''
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):
    delta = scaling * (lora_B @ lora_A)          # merge first: same function
    out = torch.matmul(x, (weight + delta).transpose(0, 1))
    return out if bias is None else out + bias
''',
        "wrong": [
            '''
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):   # forgot the scaling
    out = x @ weight.T + (0 if bias is None else bias)
    return out + (x @ lora_A.T) @ lora_B.T
''',
            '''
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):   # ignores the bias
    return x @ weight.T + scaling * (x @ lora_A.T) @ lora_B.T
''',
            '''
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):   # only 2-D inputs
    out = torch.addmm(bias if bias is not None else torch.zeros(weight.shape[0], dtype=x.dtype),
                      x, weight.T)
    return out + scaling * x @ lora_A.T @ lora_B.T
''',
        ],
        "delegate": '''
from genlab.finetune.lora import lora_forward as _reference
def lora_forward(x, weight, bias, lora_A, lora_B, scaling):
    return _reference(x, weight, bias, lora_A, lora_B, scaling)
''',
    },
    "merge_lora_weight": {
        "test": "test_merge_lora", "points": 2,
        "right": '''
def merge_lora_weight(weight, lora_A, lora_B, scaling):
    return torch.addmm(weight, lora_B, lora_A, alpha=scaling)
''',
        "wrong": [
            '''
def merge_lora_weight(weight, lora_A, lora_B, scaling):
    return weight + lora_B @ lora_A
''',
            '''
def merge_lora_weight(weight, lora_A, lora_B, scaling):
    return weight + scaling * (lora_A.T @ lora_B.T)
''',
        ],
        "delegate": '''
import genlab.finetune.lora as L
def merge_lora_weight(weight, lora_A, lora_B, scaling):
    return L.merge_lora_weight(weight, lora_A, lora_B, scaling)
''',
    },
    "freeze_all_but": {
        "test": "test_freeze_all_but", "points": 2,
        "right": '''
def freeze_all_but(model, prefixes):
    keep = [prefixes] if isinstance(prefixes, str) else list(prefixes)
    params = dict(model.named_parameters())
    for prefix in keep:
        if not [n for n in params if n.startswith(prefix)]:
            raise ValueError("no parameter starts with " + prefix)
    total = 0
    for name, p in params.items():
        p.requires_grad = any(name.startswith(k) for k in keep)
        total += p.numel() if p.requires_grad else 0
    return total
''',
        "wrong": [
            '''
def freeze_all_but(model, prefixes):   # no ValueError for a prefix that matches nothing
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
''',
            '''
def freeze_all_but(model, prefixes):   # a string is iterated letter by letter
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(n.startswith(prefix) for n in names):
            raise ValueError(prefix)
    for name, p in model.named_parameters():
        p.requires_grad_(any(name.startswith(q) for q in prefixes))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
''',
            '''
def freeze_all_but(model, prefixes):   # counts tensors, not scalars
    prefixes = (prefixes,) if isinstance(prefixes, str) else tuple(prefixes)
    names = [n for n, _ in model.named_parameters()]
    if not all(any(n.startswith(q) for n in names) for q in prefixes):
        raise ValueError("no match")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes))
    return sum(1 for p in model.parameters() if p.requires_grad)
''',
        ],
        "delegate": '''
from genlab.finetune import freeze as _f
def freeze_all_but(model, prefixes):
    return _f.freeze_all_but(model, prefixes)
''',
    },
    "unfrozen_groups": {
        "test": "test_unfrozen_groups", "points": 2,
        "right": '''
def unfrozen_groups(step, num_groups, every):
    count = 1
    while count < num_groups and step >= count * every:
        count += 1
    return count
''',
        "wrong": [
            '''
def unfrozen_groups(step, num_groups, every):   # starts with nothing trainable
    return min(num_groups, step // every)
''',
            '''
def unfrozen_groups(step, num_groups, every):   # no cap
    return 1 + step // every
''',
        ],
        "delegate": '''
from genlab.finetune.freeze import unfrozen_groups as _u
def unfrozen_groups(step, num_groups, every):
    return _u(step, num_groups, every)
''',
    },
    "prepend_virtual_tokens": {
        "test": "test_prepend_virtual_tokens", "points": 3,
        "right": '''
def prepend_virtual_tokens(inputs_embeds, attention_mask, virtual_tokens):
    b, s, d = inputs_embeds.shape
    n = virtual_tokens.shape[0]
    out = torch.cat([virtual_tokens.repeat(b, 1, 1), inputs_embeds], dim=1)
    if attention_mask is None:
        mask = torch.ones(b, n + s, dtype=torch.long)
    else:
        mask = torch.cat([torch.ones(b, n, dtype=attention_mask.dtype), attention_mask], dim=1)
    return out, mask
''',
        "wrong": [
            '''
def prepend_virtual_tokens(inputs_embeds, attention_mask, virtual_tokens):   # appended
    b, s, _ = inputs_embeds.shape
    out = torch.cat([inputs_embeds, virtual_tokens.expand(b, -1, -1)], dim=1)
    mask = torch.ones(b, s + virtual_tokens.shape[0], dtype=torch.long)
    return out, mask
''',
            '''
def prepend_virtual_tokens(inputs_embeds, attention_mask, virtual_tokens):   # drops padding
    b, s, _ = inputs_embeds.shape
    out = torch.cat([virtual_tokens.expand(b, -1, -1), inputs_embeds], dim=1)
    return out, torch.ones(b, s + virtual_tokens.shape[0], dtype=torch.long)
''',
            '''
def prepend_virtual_tokens(inputs_embeds, attention_mask, virtual_tokens):   # no gradient
    b, s, _ = inputs_embeds.shape
    if attention_mask is None:
        attention_mask = torch.ones(b, s, dtype=torch.long)
    prompt = virtual_tokens.detach().expand(b, -1, -1)
    ones = torch.ones(b, virtual_tokens.shape[0], dtype=attention_mask.dtype)
    return torch.cat([prompt, inputs_embeds], 1), torch.cat([ones, attention_mask], 1)
''',
        ],
        "delegate": '''
from genlab.finetune.prompt_tuning import prepend_virtual_tokens as _p
def prepend_virtual_tokens(inputs_embeds, attention_mask, virtual_tokens):
    return _p(inputs_embeds, attention_mask, virtual_tokens)
''',
    },
}


def _params(kind):
    for cell, case in CASES.items():
        answers = case[kind] if kind == "wrong" else [case[kind]]
        for i, answer in enumerate(answers):
            yield pytest.param(cell, answer, id=f"{cell}-{kind}-{i}")


@pytest.mark.parametrize("cell,answer", list(_params("right")))
def test_a_right_answer_written_another_way_gets_full_points(cell, answer):
    case = CASES[cell]
    assert grade_cells(CHAPTER, {cell: answer})[case["test"]] == case["points"]


@pytest.mark.parametrize("cell,answer", list(_params("wrong")) + list(_params("delegate")))
def test_wrong_or_delegating_answers_lose_the_points(cell, answer):
    assert grade_cells(CHAPTER, {cell: answer})[CASES[cell]["test"]] == 0
