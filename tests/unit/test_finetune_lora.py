"""Hand-written LoRA against PEFT on the same A and B, and against its closed form."""

from __future__ import annotations

import copy
import math
import os

import pytest
import torch
from torch import nn

from genlab.finetune import lora
from genlab.finetune.freeze import trainable_parameters

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _tiny_llama(seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=24,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=32, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).double().eval()


def test_lora_linear_has_the_shapes_init_and_scaling_of_the_paper_and_starts_as_the_base():
    torch.manual_seed(0)
    base = nn.Linear(6, 4).double()
    layer = lora.LoRALinear(base, r=3, alpha=12.0)
    assert layer.lora_A.shape == (3, 6) and layer.lora_B.shape == (4, 3)
    assert layer.scaling == 4.0
    assert torch.count_nonzero(layer.lora_B) == 0
    # kaiming_uniform_(a=sqrt(5)) draws from U(-b, b) with b = 1/sqrt(fan_in)
    assert layer.lora_A.abs().max() <= 1 / math.sqrt(6)
    x = torch.randn(5, 6, dtype=torch.float64)
    torch.testing.assert_close(layer(x), base(x), rtol=0, atol=0)
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert trainable_parameters(layer) == 3 * 6 + 4 * 3


def test_lora_forward_and_merged_weight_equal_the_closed_form():
    torch.manual_seed(1)
    base = nn.Linear(5, 7).double()
    layer = lora.LoRALinear(base, r=2, alpha=3.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(2, 3, 5, dtype=torch.float64)  # any leading dimensions
    W = base.weight + 1.5 * layer.lora_B @ layer.lora_A
    torch.testing.assert_close(layer.merged_weight(), W)
    torch.testing.assert_close(layer(x), x @ W.T + base.bias)
    torch.testing.assert_close(layer.merged()(x), layer(x))


def test_lora_gradients_reach_only_a_and_b():
    torch.manual_seed(2)
    layer = lora.LoRALinear(nn.Linear(4, 4), r=2)
    with torch.no_grad():
        layer.lora_B.normal_()
    layer(torch.randn(3, 4)).sum().backward()
    assert layer.base.weight.grad is None and layer.base.bias.grad is None
    assert layer.lora_A.grad is not None and layer.lora_B.grad is not None


def test_hand_lora_equals_peft_lora_on_the_same_a_and_b_outputs_and_merged_weights():
    from peft import LoraConfig, get_peft_model

    base = _tiny_llama()
    ours = lora.add_lora(copy.deepcopy(base), ["q_proj", "v_proj"], r=4, alpha=8.0)
    theirs = get_peft_model(copy.deepcopy(base), LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    wrapped = [(n, m) for n, m in ours.named_modules() if isinstance(m, lora.LoRALinear)]
    assert len(wrapped) == 4  # two layers x (q, v)
    generator = torch.Generator().manual_seed(3)
    for name, module in wrapped:
        with torch.no_grad():  # B != 0 so that the update is really exercised
            module.lora_B.copy_(torch.randn(module.lora_B.shape, generator=generator,
                                            dtype=torch.float64))
        peft_layer = theirs.get_submodule("base_model.model." + name)
        assert peft_layer.scaling["default"] == module.scaling
        peft_layer.lora_A["default"].weight.data.copy_(module.lora_A.data)
        peft_layer.lora_B["default"].weight.data.copy_(module.lora_B.data)
    assert trainable_parameters(ours) == trainable_parameters(theirs) == 4 * (4 * 16 + 16 * 4)
    ids = torch.randint(0, 40, (3, 9), generator=generator)
    # float64 and the same operations: only summation order may differ
    torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, rtol=1e-12, atol=1e-12)
    merged = theirs.merge_and_unload()
    for name, module in wrapped:
        torch.testing.assert_close(module.merged_weight(), merged.get_submodule(name).weight,
                                   rtol=1e-12, atol=1e-12)
    lora.merge_lora(ours)
    assert not any(isinstance(m, lora.LoRALinear) for m in ours.modules())
    torch.testing.assert_close(ours(ids).logits, merged(ids).logits, rtol=1e-12, atol=1e-12)


def test_add_lora_freezes_everything_else_and_lora_state_dict_holds_only_a_and_b():
    model = lora.add_lora(_tiny_llama(), "q_proj", r=2)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("lora_A", "lora_B")) for n in trainable)
    assert sorted(lora.lora_state_dict(model)) == sorted(trainable)


def test_lora_rejects_bad_input_with_clear_errors():
    with pytest.raises(TypeError, match="nn.Linear"):
        lora.LoRALinear(nn.Conv1d(2, 2, 1))
    with pytest.raises(ValueError, match="r must be >= 1"):
        lora.LoRALinear(nn.Linear(2, 2), r=0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        lora.LoRALinear(nn.Linear(2, 2), alpha=0.0)
    with pytest.raises(ValueError, match="must end in 2 features"):
        lora.LoRALinear(nn.Linear(2, 2))(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="no module of the model matches"):
        lora.add_lora(_tiny_llama(), ["qproj"])
    with pytest.raises(TypeError, match="LoRALinear wraps nn.Linear"):
        lora.add_lora(_tiny_llama(), ["mlp"])
