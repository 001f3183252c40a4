"""Textual inversion (chapter 08): the gradient mask, only the new row trains, and the saved
embedding round-trips through StableDiffusionPipeline.load_textual_inversion."""

from __future__ import annotations

import os

import pytest
import torch

from genlab.finetune import textual_inversion as TI

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")


def _weight_with_grad(rows=7, dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    weight = torch.nn.Parameter(torch.randn(rows, dim, generator=g))
    weight.grad = torch.randn(rows, dim, generator=g)
    return weight


@pytest.mark.parametrize("ids", [2, [2, 5], (0, 6), torch.tensor([4]), torch.tensor([[1, 3]])])
def test_mask_keeps_the_chosen_rows_gradients_bit_for_bit_and_zeroes_the_others(ids):
    weight = _weight_with_grad()
    before = weight.grad.clone()
    storage = weight.grad.data_ptr()
    out = TI.mask_embedding_grad_(weight, ids)
    kept = sorted(set(torch.as_tensor(ids).flatten().tolist()))
    assert out is weight.grad and weight.grad.data_ptr() == storage  # in place
    for row in range(7):
        if row in kept:
            assert torch.equal(weight.grad[row], before[row])
        else:
            assert torch.equal(weight.grad[row], torch.zeros(3))


def test_mask_leaves_the_weights_alone_and_keeps_nan_in_kept_rows():
    weight = _weight_with_grad()
    values = weight.detach().clone()
    weight.grad[1, 0] = float("nan")
    weight.grad[2, 0] = float("nan")
    TI.mask_embedding_grad_(weight, [1])
    assert torch.equal(weight.detach(), values)
    assert torch.isnan(weight.grad[1, 0]) and torch.equal(weight.grad[2], torch.zeros(3))


def test_mask_rejects_bad_input():
    weight = _weight_with_grad()
    with pytest.raises(ValueError, match="token_ids"):
        TI.mask_embedding_grad_(weight, [7])
    with pytest.raises(TypeError, match="token_ids"):
        TI.mask_embedding_grad_(weight, 1.5)
    with pytest.raises(TypeError, match="token_ids"):
        TI.mask_embedding_grad_(weight, torch.tensor([True]))
    with pytest.raises(ValueError, match="no gradient"):
        TI.mask_embedding_grad_(torch.nn.Parameter(torch.zeros(3, 2)), [0])
    with pytest.raises(ValueError, match="weight"):
        TI.mask_embedding_grad_(torch.nn.Parameter(torch.zeros(3)), [0])


@pytest.fixture
def parts():
    from genlab.pretrained.digits_t2i import random_digits_t2i

    return random_digits_t2i(seed=0)


def _subject():
    g = torch.Generator().manual_seed(3)
    return torch.rand(3, 1, 8, 8, generator=g) * 2 - 1, [3, 7, 7]


def _config(steps=4):
    from genlab.finetune.loop import TrainConfig

    # weight decay on: without the row restore it would shrink every other row
    return TrainConfig(steps=steps, lr=5e-2, weight_decay=0.1, cpu=True, progress=False)


def test_add_token_appends_one_row_initialised_from_the_initializer(parts):
    n = len(parts.tokenizer)
    token_id = TI.add_token(parts)
    weight = parts.text_encoder.get_input_embeddings().weight
    assert token_id == n and weight.shape[0] == n + 1
    init_id = parts.tokenizer.convert_tokens_to_ids(TI.INITIALIZER)
    assert torch.equal(weight[token_id], weight[init_id])
    ids = parts.tokenizer(TI.ti_prompt(3)).input_ids
    assert token_id in ids and len(ids) == 7  # <bos> a handwritten <tok> digit three <eos>
    with pytest.raises(ValueError, match="already"):
        TI.add_token(parts)
    with pytest.raises(ValueError, match="initializer"):
        TI.add_token(parts, "<other>", initializer="zebra")


def test_textual_inversion_changes_only_the_new_row(parts):
    images, digits = _subject()
    unet_before = {k: v.clone() for k, v in parts.unet.state_dict().items()}
    text_before = {k: v.clone() for k, v in parts.text_encoder.state_dict().items()}
    history = TI.train_textual_inversion(parts, images, digits, _config())
    token_id = history.meta["token_id"]
    weight = parts.text_encoder.get_input_embeddings().weight
    assert history.meta["learned_numbers"] == 32
    # requires_grad is per tensor, so the loop counts the embedding matrix, nothing else
    assert history.meta["trainable_parameters"] == weight.numel()
    old = next(v for k, v in text_before.items() if k.endswith("token_embedding.weight"))
    assert weight.shape[0] == old.shape[0] + 1
    assert torch.equal(weight[:token_id], old)  # every old row exactly as before
    init_id = parts.tokenizer.convert_tokens_to_ids(TI.INITIALIZER)
    assert (weight[token_id] - old[init_id]).abs().max() > 1e-3  # the new row moved
    for k, v in parts.text_encoder.state_dict().items():
        if "token_embedding" not in k:
            assert torch.equal(v, text_before[k]), k
    assert all(torch.equal(v, unet_before[k]) for k, v in parts.unet.state_dict().items())


def test_without_the_restore_weight_decay_would_move_the_other_rows(parts):
    # Why RestoreFrozenRows exists: the gradient mask alone leaves AdamW's decay.
    from genlab.finetune.loop import finetune

    TI.add_token(parts)
    weight = parts.text_encoder.get_input_embeddings().weight
    before = weight.detach().clone()
    weight.requires_grad_(True)
    mask_only = TI.RestoreFrozenRows(weight, [weight.shape[0] - 1])
    mask_only.on_step_end = lambda state: None  # keep the mask, drop the restore
    finetune(parts.text_encoder, lambda m, b: (m.get_input_embeddings().weight[-1] ** 2).sum(),
             [0], _config(steps=2), params=[weight], callbacks=[mask_only])
    assert not torch.equal(weight[:-1].detach(), before[:-1])


def test_saved_embedding_round_trips_through_load_textual_inversion(parts, tmp_path):
    from safetensors.torch import load_file

    from genlab.pretrained.digits_t2i import make_pipeline, random_digits_t2i

    images, digits = _subject()
    TI.train_textual_inversion(parts, images, digits, _config())
    pipe = make_pipeline(parts, device="cpu")
    prompt = TI.ti_prompt(5)

    def sample(p):
        return p(prompt, num_inference_steps=3, guidance_scale=3.0, output_type="latent",
                 generator=torch.Generator().manual_seed(0)).images

    trained = sample(pipe)
    path = TI.save_textual_inversion(parts, tmp_path)
    saved = load_file(str(path))
    assert list(saved) == [TI.PLACEHOLDER] and saved[TI.PLACEHOLDER].shape == (1, 32)
    assert path.stat().st_size < 1000  # a few dozen numbers

    fresh = make_pipeline(random_digits_t2i(seed=0), device="cpu")
    base = fresh(TI.ti_prompt(5).replace(TI.PLACEHOLDER, TI.INITIALIZER), num_inference_steps=3,
                 guidance_scale=3.0, output_type="latent",
                 generator=torch.Generator().manual_seed(0)).images
    assert (trained - base).abs().max() > 1e-4  # the learned word changes the images
    fresh.load_textual_inversion(str(path))
    assert fresh.tokenizer.convert_tokens_to_ids(TI.PLACEHOLDER) == len(fresh.tokenizer) - 1
    # Same token id, same row, same frozen networks: the same computation, bit for bit.
    torch.testing.assert_close(sample(fresh), trained, rtol=0, atol=0)


def test_textual_inversion_loss_of_a_v_prediction_model_regresses_diffusers_get_velocity():
    import dataclasses

    from diffusers import DDPMScheduler

    from genlab.pretrained.digits_t2i import load_digits_t2i

    shipped = load_digits_t2i(device="cpu")
    scheduler = DDPMScheduler.from_config(shipped.noise_scheduler.config,
                                          prediction_type="v_prediction")
    v_parts = dataclasses.replace(shipped, noise_scheduler=scheduler)
    images, digits = _subject()
    TI.add_token(v_parts)
    batch = TI.TextualInversionBatches(v_parts, images, digits, batch_size=3)(0)
    model = TI._TextToImage(v_parts.unet, v_parts.text_encoder)
    with torch.no_grad():
        loss = TI.textual_inversion_loss_fn(scheduler)(model, batch)
        hidden = v_parts.text_encoder(batch["input_ids"])[0]
        x_t = scheduler.add_noise(batch["x0"], batch["noise"], batch["timesteps"])
        pred = v_parts.unet(x_t, batch["timesteps"], hidden).sample
    target = scheduler.get_velocity(batch["x0"], batch["noise"], batch["timesteps"])
    torch.testing.assert_close(loss, ((pred - target) ** 2).mean())
    assert not torch.isclose(loss, ((pred - batch["noise"]) ** 2).mean(), rtol=1e-3)
