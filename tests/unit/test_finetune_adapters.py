"""Bottleneck adapters and prompt tuning: closed forms, identity at init, PEFT as the oracle."""

from __future__ import annotations

import copy
import os

import pytest
import torch

from genlab.finetune import adapters, prompt_tuning
from genlab.finetune.freeze import trainable_parameters

os.environ.setdefault("HF_HUB_OFFLINE", "1")
H, V, L = 16, 40, 2


def _tiny_llama(seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=V, hidden_size=H, intermediate_size=24, num_hidden_layers=L,
                         num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=32, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).double().eval()


def test_bottleneck_adapter_is_the_identity_at_init_and_has_the_closed_form_size():
    adapter = adapters.BottleneckAdapter(10, 3).double()
    assert trainable_parameters(adapter) == 2 * 10 * 3 + 3 + 10
    h = torch.randn(4, 5, 10, dtype=torch.float64)
    torch.testing.assert_close(adapter(h), h, rtol=0, atol=0)
    adapter(h).sum().backward()
    # At init only the up-projection gets a gradient (its input is non-zero; the zero
    # up-projection blocks the gradient to the down-projection).
    assert adapter.up.weight.grad.abs().sum() > 0
    assert adapter.down.weight.grad.abs().sum() == 0


def test_bottleneck_adapter_computes_h_plus_up_act_down_h():
    torch.manual_seed(1)
    adapter = adapters.BottleneckAdapter(6, 2).double()
    with torch.no_grad():
        adapter.up.weight.normal_()
        adapter.up.bias.normal_()
    h = torch.randn(3, 6, dtype=torch.float64)
    down = h @ adapter.down.weight.T + adapter.down.bias
    expected = h + torch.nn.functional.gelu(down) @ adapter.up.weight.T + adapter.up.bias
    torch.testing.assert_close(adapter(h), expected)
    with pytest.raises(ValueError, match="must end in 6 features"):
        adapter(torch.zeros(2, 5, dtype=torch.float64))


def test_add_adapters_inserts_one_per_block_after_the_mlp_and_starts_as_the_base_model():
    base = _tiny_llama()
    model = adapters.add_adapters(copy.deepcopy(base), bottleneck=4)
    assert all(isinstance(block.mlp, adapters.WithAdapter) for block in model.model.layers)
    assert trainable_parameters(model) == L * (2 * H * 4 + 4 + H)
    ids = torch.randint(0, V, (2, 7))
    torch.testing.assert_close(model(ids).logits, base(ids).logits, rtol=0, atol=0)
    with torch.no_grad():
        model.model.layers[0].mlp.adapter.up.weight.fill_(0.1)
    assert not torch.allclose(model(ids).logits, base(ids).logits)
    adapters.remove_adapters(model)
    assert not any(isinstance(m, adapters.WithAdapter) for m in model.modules())
    with pytest.raises(ValueError, match="no child"):
        adapters.add_adapters(_tiny_llama(), mlp_name="ffn")


def test_prepend_virtual_tokens_shapes_mask_and_gradient():
    embeds = torch.randn(2, 5, 4)
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]])
    prompt = torch.randn(3, 4, requires_grad=True)
    out, out_mask = prompt_tuning.prepend_virtual_tokens(embeds, mask, prompt)
    assert out.shape == (2, 8, 4) and out_mask.shape == (2, 8) and out_mask.dtype == mask.dtype
    torch.testing.assert_close(out[:, :3], prompt.detach().expand(2, 3, 4))
    torch.testing.assert_close(out[:, 3:], embeds)
    assert out_mask[:, :3].eq(1).all() and torch.equal(out_mask[:, 3:], mask)
    out.sum().backward()
    torch.testing.assert_close(prompt.grad, torch.full((3, 4), 2.0))  # used once per sequence
    _, default_mask = prompt_tuning.prepend_virtual_tokens(embeds, None, prompt)
    assert default_mask.dtype == torch.long and default_mask.eq(1).all()
    with pytest.raises(ValueError, match="4 features"):
        prompt_tuning.prepend_virtual_tokens(embeds, mask, torch.randn(3, 5))


def test_hand_prompt_tuning_equals_peft_prompt_tuning_on_the_same_prompt():
    from peft import PromptTuningConfig, TaskType, get_peft_model

    base = _tiny_llama()
    ours = prompt_tuning.PromptTuning(copy.deepcopy(base), num_virtual_tokens=5,
                                      generator=torch.Generator().manual_seed(0))
    theirs = get_peft_model(copy.deepcopy(base), PromptTuningConfig(
        task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5))
    theirs.prompt_encoder["default"].embedding.weight.data.copy_(ours.prompt.data)
    assert trainable_parameters(ours) == trainable_parameters(theirs) == 5 * H
    ids = torch.randint(0, V, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, :2] = 0  # left padding on one row
    a = ours(ids, attention_mask=mask, labels=ids)
    b = theirs(input_ids=ids, attention_mask=mask, labels=ids)
    assert a.logits.shape == (3, 12, V)
    torch.testing.assert_close(a.logits, b.logits, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a.loss, b.loss, rtol=1e-12, atol=1e-12)
    a.loss.backward()
    assert ours.prompt.grad is not None
    assert all(p.grad is None for p in ours.model.parameters())
