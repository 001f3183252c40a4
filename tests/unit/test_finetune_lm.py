"""Corpora, causal-LM loss and perplexity, L2-SP, the method recipe and the data order."""

from __future__ import annotations

import copy
import math
import os

import pytest
import torch
import torch.nn.functional as F

from genlab.data import text
from genlab.finetune import lm
from genlab.finetune.freeze import trainable_parameters

os.environ.setdefault("HF_HUB_OFFLINE", "1")
H, V, L = 16, 40, 2


def _tiny_llama(seed=0, vocab=V):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab, hidden_size=H, intermediate_size=24,
                         num_hidden_layers=L, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=64, tie_word_embeddings=True)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).double().eval()


# ---------------------------------------------------------------- corpora


def test_corpora_are_seeded_sized_and_held_out_general_text_has_no_legal_clause():
    assert text.load_corpus("legal", "train") == text.load_corpus("legal", "train")
    for (register, split), n in text.SPLIT_SIZES.items():
        assert len(text.load_corpus(register, split)) == n
    legal_words = {"agreement", "shall", "pursuant", "hereby", "notwithstanding", "notices"}
    general_test = text.load_corpus("general", "test")
    assert not any(legal_words & set(s.split()) for s in general_test)
    general_train = text.load_corpus("general", "train")
    share = sum(bool(legal_words & set(s.split())) for s in general_train) / len(general_train)
    assert 0.002 < share < 0.01, f"the legal trace should be about 0.5%, got {share:.2%}"
    assert text.load_corpus("legal", "train") != text.load_corpus("legal", "test")[:150]


def test_tokenizer_covers_every_word_and_blocks_are_eos_separated():
    tokenizer = text.build_tokenizer()
    assert len(tokenizer) == len(text.vocabulary())
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    for register in ("general", "legal"):
        for split in ("train", "test"):
            ids = tokenizer(text.load_corpus(register, split)[:300])["input_ids"]
            assert all(tokenizer.unk_token_id not in row for row in ids)
    sentences = ["the tenant shall pay the rent .", "anna bought the lamp ."]
    blocks = text.pack_blocks(sentences, tokenizer, block_size=4)
    assert blocks.shape == (3, 4) and blocks.dtype == torch.long  # 7 + 1 + 5 + 1 = 14 tokens
    assert blocks.view(-1)[7].item() == tokenizer.eos_token_id
    assert tokenizer.decode(blocks.view(-1)[:7]) == sentences[0]
    with pytest.raises(ValueError, match="do not fill one block"):
        text.pack_blocks(["a"], tokenizer, block_size=32)
    with pytest.raises(ValueError, match="register must be one of"):
        text.load_corpus("medical", "train")


# ---------------------------------------------------------------- loss, perplexity, L2-SP


def test_perplexity_is_exp_of_the_mean_shifted_cross_entropy():
    model = _tiny_llama()
    blocks = torch.randint(0, V, (5, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(blocks).logits
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, V), blocks[:, 1:].reshape(-1))
    # transformers' causal-LM loss casts the logits to float32 before the cross-entropy,
    # so even a float64 model agrees only to float32 rounding (~1e-7 relative)
    assert lm.perplexity(model, blocks, batch_size=2) == pytest.approx(math.exp(nll.item()),
                                                                       rel=2e-6)


def test_perplexity_of_a_model_with_constant_logits_is_the_vocabulary_size():
    model = _tiny_llama()
    with torch.no_grad():
        model.lm_head.weight.zero_()  # tied: the embeddings too, so every logit is 0
    blocks = torch.randint(0, V, (3, 6))
    assert lm.perplexity(model, blocks) == pytest.approx(V, rel=2e-6)  # float32 loss
    with pytest.raises(ValueError, match="long tensor"):
        lm.perplexity(model, blocks.float())


def test_l2_sp_penalty_is_half_strength_times_squared_distance_with_its_gradient():
    model = _tiny_llama()
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    assert lm.l2_sp_penalty(model, reference, 0.3).item() == 0.0
    with torch.no_grad():
        model.model.norm.weight.add_(0.5)  # H entries moved by 0.5
    penalty = lm.l2_sp_penalty(model, reference, 0.3)
    assert penalty.item() == pytest.approx(0.5 * 0.3 * H * 0.25, rel=1e-12)
    penalty.backward()
    torch.testing.assert_close(model.model.norm.weight.grad,
                               torch.full((H,), 0.3 * 0.5, dtype=torch.float64))


# ---------------------------------------------------------------- the recipe


def _counts():
    block = 4 * H * H + 3 * H * 24 + 2 * H
    return {
        "full": V * H + L * block + H,
        "freeze": block + H,
        "gradual": block + H,  # at the start: the top group only
        "lora": L * 2 * (8 * H + H * 8),  # q and v, r = 8
        "adapter": L * (2 * H * 16 + 16 + H),
        "prompt": 10 * H,
        "prefix": 10 * L * 2 * H,  # keys and values for every layer
    }


@pytest.mark.parametrize("method", list(_counts()))
def test_prepare_trains_the_closed_form_number_of_parameters(method):
    prepared = lm.prepare(_tiny_llama(), method)
    assert trainable_parameters(prepared.model) == _counts()[method]


def test_p_tuning_trains_only_its_prompt_encoder():
    prepared = lm.prepare(_tiny_llama(), "ptuning", encoder_hidden_size=8)
    names = [n for n, p in prepared.model.named_parameters() if p.requires_grad]
    assert names and all("prompt_encoder" in n for n in names)


def test_every_method_starts_from_the_pretrained_function_except_the_prompt_methods():
    base = _tiny_llama()
    ids = torch.randint(0, V, (2, 7))
    with torch.no_grad():
        want = base(ids).logits
        for method in ("full", "freeze", "gradual", "lora", "adapter"):
            got = lm.prepare(copy.deepcopy(base), method).model(input_ids=ids).logits
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_training_loader_gives_k_processes_the_rows_of_one_process_batch():
    blocks = torch.arange(7 * 3).view(7, 3)
    one = list(lm.training_loader(blocks, batch_size=4, steps=5, seed=1, num_processes=1))
    two = list(lm.training_loader(blocks, batch_size=4, steps=5, seed=1, num_processes=2))
    assert len(one) == 5 and len(two) == 10 and one[0].shape == (4, 3)
    # Accelerate hands consecutive batches to processes 0, 1, 0, 1, ...
    for step in range(5):
        torch.testing.assert_close(torch.cat([two[2 * step], two[2 * step + 1]]), one[step])
    rows = torch.cat(one)[:7, 0] // 3
    assert sorted(rows.tolist()) == list(range(7)), "each epoch is a permutation"
    with pytest.raises(ValueError, match="divisible"):
        lm.training_loader(blocks, batch_size=3, steps=1, num_processes=2)


def test_a_short_run_of_the_recipe_lowers_the_domain_loss_and_saves_only_what_trained(tmp_path):
    from genlab.finetune.loop import TrainConfig, finetune

    model = _tiny_llama(vocab=len(text.vocabulary())).float()
    tokenizer = text.build_tokenizer()
    blocks = text.pack_blocks(text.load_corpus("legal", "train"), tokenizer, block_size=16)
    prepared = lm.prepare(model, "full")
    history = finetune(prepared.model, lm.causal_lm_loss,
                       lm.training_loader(blocks, batch_size=8, steps=15),
                       TrainConfig(steps=15, lr=1e-2, cpu=True))
    assert history["loss"][-1] < history["loss"][0] - 0.5
    lora = lm.prepare(_tiny_llama().float(), "lora")
    size = lm.save_trained(lora, tmp_path)
    assert (tmp_path / "adapter_model.safetensors").is_file()
    # 1,024 float32 LoRA numbers (4,096 bytes) plus the safetensors header
    assert 4096 < size < 4096 + 2048
