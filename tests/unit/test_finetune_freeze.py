"""Freezing, ULMFiT groups and gradual unfreezing against closed forms."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from genlab.finetune import freeze

os.environ.setdefault("HF_HUB_OFFLINE", "1")

H, I, V, L = 16, 24, 40, 3  # hidden, MLP, vocabulary, layers of the test model
# One Llama block: q, k, v, o (H x H each), gate, up (I x H), down (H x I), two RMSNorms (H).
BLOCK = 4 * H * H + 3 * H * I + 2 * H


def _tiny_llama(seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=V, hidden_size=H, intermediate_size=I, num_hidden_layers=L,
                         num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=32, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def test_trainable_parameters_counts_the_closed_form_and_tied_weights_once():
    model = _tiny_llama()
    assert freeze.trainable_parameters(model) == V * H + L * BLOCK + H
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 5))
    net[1].requires_grad_(False)
    assert freeze.trainable_parameters(net) == 3 * 2 + 2


def test_freeze_all_but_the_top_block_leaves_it_and_the_final_norm_and_blocks_lower_grads():
    model = _tiny_llama()
    count = freeze.freeze_all_but(model, [f"model.layers.{L - 1}.", "model.norm."])
    assert count == BLOCK + H == freeze.trainable_parameters(model)
    ids = torch.randint(0, V, (2, 6))
    model(input_ids=ids, labels=ids).loss.backward()
    for name, p in model.named_parameters():
        trainable = name.startswith((f"model.layers.{L - 1}.", "model.norm."))
        assert (p.grad is not None) == trainable, name
    with pytest.raises(ValueError, match="matches no parameter"):
        freeze.freeze_all_but(model, ["model.layer.2."])


def test_layer_groups_are_top_first_and_cover_every_parameter_once():
    model = _tiny_llama()
    groups = freeze.layer_groups(model)
    assert len(groups) == L + 1
    assert "model.norm.weight" in groups[0]
    assert all(n.startswith(f"model.layers.{L - 1}.") for n in groups[0] if n != "model.norm.weight")
    assert all(n.startswith("model.layers.0.") for n in groups[L - 1])
    assert groups[-1] == ["model.embed_tokens.weight"]
    flat = [n for g in groups for n in g]
    assert sorted(flat) == sorted(n for n, _ in model.named_parameters())


@pytest.mark.parametrize("step,expected", [(0, 1), (4, 1), (5, 2), (9, 2), (10, 3), (15, 4), (99, 4)])
def test_unfrozen_groups_adds_one_group_every_k_steps_and_saturates(step, expected):
    assert freeze.unfrozen_groups(step, num_groups=4, every=5) == expected


def test_gradual_unfreezing_toggles_requires_grad_top_down():
    model = _tiny_llama()
    groups = freeze.layer_groups(model)
    schedule = freeze.GradualUnfreezing(model, groups, every=3)
    sizes = []
    for step in range(0, 3 * len(groups) + 1, 3):
        schedule.apply(step)
        sizes.append(freeze.trainable_parameters(model))
    assert sizes == [BLOCK + H, 2 * BLOCK + H, 3 * BLOCK + H, 3 * BLOCK + H + V * H,
                     3 * BLOCK + H + V * H]
    with pytest.raises(ValueError, match="does not have"):
        freeze.GradualUnfreezing(model, [["nope.weight"]])


def test_discriminative_learning_rates_divide_by_2_6_per_group_down():
    model = _tiny_llama()
    groups = freeze.discriminative_param_groups(model, freeze.layer_groups(model), lr=1e-2)
    assert [g["lr"] for g in groups] == pytest.approx([1e-2 / 2.6 ** i for i in range(L + 1)])
    assert sum(p.numel() for g in groups for p in g["params"]) == freeze.trainable_parameters(model)


def test_gradual_unfreezing_in_the_loop_trains_lower_groups_only_after_their_turn():
    from genlab.finetune.lm import causal_lm_loss
    from genlab.finetune.loop import TrainConfig, finetune

    model = _tiny_llama()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    groups = freeze.layer_groups(model)
    params = [p for g in groups for p in (dict(model.named_parameters())[n] for n in g)]
    ids = torch.randint(0, V, (4, 8))
    history = finetune(model, causal_lm_loss, [ids], TrainConfig(steps=2, lr=1e-2, cpu=True),
                       params=params, callbacks=[freeze.GradualUnfreezing(model, groups, every=2)])
    assert history["unfrozen_groups"] == [1.0, 1.0, 2.0]  # at steps 0, 1, 2
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == set(groups[0]), "only the top group may move in the first two updates"
