"""DreamBooth (chapter 08): the prior-preservation loss, the batches, full and LoRA training,
and the LoRA file through the pipeline's loaders (load_lora_weights, set_adapters, fuse_lora)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from genlab.finetune import dreambooth as DB

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*LoRA keys.*", "ignore::FutureWarning", "ignore::DeprecationWarning")


# --------------------------------------------------------------------------- the loss

def _tensors(seed, *shapes, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=dtype) for s in shapes]


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0, 3.0])
def test_prior_preservation_loss_is_the_sum_of_two_batch_mean_squared_errors(weight):
    pred, target, ppred, ptarget = _tensors(0, (4, 1, 8, 8), (4, 1, 8, 8), (6, 1, 8, 8), (6, 1, 8, 8))
    # Closed form written out (no F.mse_loss): mean over all elements of each pair.
    expected = ((pred - target) ** 2).sum() / pred.numel() \
        + weight * ((ppred - ptarget) ** 2).sum() / ppred.numel()
    got = DB.prior_preservation_loss(pred, target, ppred, ptarget, prior_weight=weight)
    assert got.ndim == 0 and got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)  # float64: exact up to sums
    # and in the Diffusers script's form
    ref = F.mse_loss(pred, target) + weight * F.mse_loss(ppred, ptarget)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)


def test_prior_preservation_loss_default_weight_is_one_and_half_precision_is_upcast():
    pred, target, ppred, ptarget = _tensors(1, (3, 5), (3, 5), (2, 5), (2, 5), dtype=torch.float32)
    loss = DB.prior_preservation_loss(pred.half(), target.half(), ppred.half(), ptarget.half())
    assert loss.dtype == torch.float32
    ref = F.mse_loss(pred.half().float(), target.half().float()) \
        + F.mse_loss(ppred.half().float(), ptarget.half().float())
    torch.testing.assert_close(loss, ref)


def test_prior_preservation_loss_gradient_is_two_residuals_over_each_batch_size():
    pred, target, ppred, ptarget = _tensors(2, (4, 3), (4, 3), (8, 3), (8, 3))
    pred.requires_grad_(True)
    ppred.requires_grad_(True)
    DB.prior_preservation_loss(pred, target, ppred, ptarget, prior_weight=0.25).backward()
    torch.testing.assert_close(pred.grad, 2 * (pred - target).detach() / 12)
    torch.testing.assert_close(ppred.grad, 0.25 * 2 * (ppred - ptarget).detach() / 24)


def test_prior_preservation_loss_rejects_bad_input():
    a, b = torch.zeros(2, 3), torch.zeros(2, 4)
    with pytest.raises(ValueError, match="pred and target"):
        DB.prior_preservation_loss(a, b, a, a)
    with pytest.raises(ValueError, match="prior_pred and prior_target"):
        DB.prior_preservation_loss(a, a, a, b)
    with pytest.raises(ValueError, match="prior_weight"):
        DB.prior_preservation_loss(a, a, a, a, prior_weight=-1.0)
    with pytest.raises(ValueError, match="prior_pred"):
        DB.prior_preservation_loss(a, a, torch.zeros(0, 3), torch.zeros(0, 3))
    with pytest.raises(TypeError, match="target"):
        DB.prior_preservation_loss(a, [0.0], a, a)


def test_prompts_put_the_identifier_before_the_class_noun():
    assert DB.class_prompt(3) == "a handwritten digit three"
    assert DB.instance_prompt(3) == "a handwritten sks digit three"
    with pytest.raises(ValueError, match="identifier"):
        DB.instance_prompt(3, "two words")
    with pytest.raises(ValueError, match="digit"):
        DB.instance_prompt(10)


# --------------------------------------------------------------------------- model-level tests

@pytest.fixture
def parts():
    from genlab.pretrained.digits_t2i import random_digits_t2i

    return random_digits_t2i(seed=0)


def _subject():
    g = torch.Generator().manual_seed(3)
    return torch.rand(3, 1, 8, 8, generator=g) * 2 - 1, [3, 7, 7]


def _config(steps=3, lr=1e-2):
    from genlab.finetune.loop import TrainConfig

    return TrainConfig(steps=steps, lr=lr, cpu=True, progress=False)


def test_batches_hold_subject_then_class_images_with_their_prompts(parts):
    from genlab.pretrained.digits_t2i import encode_prompts

    images, digits = _subject()
    class_images = torch.stack([torch.full((1, 8, 8), v) for v in (0.1, 0.2, 0.3, 0.4)])
    class_digits = [3, 3, 7, 7]
    batches = DB.DreamBoothBatches(parts, images, digits, class_images, class_digits, batch_size=5)
    batch = batches(0)
    assert batch["x0"].shape == (10, 1, 8, 8) and int(batch["num_instance"]) == 5
    with torch.no_grad():
        def embed(prompt):
            return encode_prompts(parts, [prompt])[0]
        # every row's text embedding is that of its own image's prompt
        for j in range(10):
            x0 = batch["x0"][j]
            if j < 5:
                i = next(i for i in range(3) if torch.equal(images[i], x0))
                expected = embed(DB.instance_prompt(digits[i]))
            else:
                i = next(i for i in range(4) if torch.equal(class_images[i], x0))
                expected = embed(DB.class_prompt(class_digits[i]))
            torch.testing.assert_close(batch["encoder_hidden_states"][j], expected)
    # the token ids of each row's prompt, for a text encoder that trains
    for j, prompt in ((0, None), (7, None)):
        got = parts.tokenizer.decode(batch["input_ids"][j], skip_special_tokens=True)
        assert got in {DB.instance_prompt(3), DB.instance_prompt(7)} if j < 5 else \
            got in {DB.class_prompt(3), DB.class_prompt(7)}
    assert batch["timesteps"].dtype == torch.long
    assert 0 <= batch["timesteps"].min() and batch["timesteps"].max() < 1000
    # seeded by (seed, step): the same step gives the same batch, the next a different one
    assert torch.equal(batches(0)["noise"], batch["noise"])
    assert not torch.equal(batches(1)["noise"], batch["noise"])
    with pytest.raises(ValueError, match="instance_digits"):
        DB.DreamBoothBatches(parts, images, [3, 7], batch_size=2)
    with pytest.raises(ValueError, match="together"):
        DB.DreamBoothBatches(parts, images, digits, class_images, None)


def test_full_dreambooth_changes_the_unet_only_and_logs_both_loss_terms(parts):
    images, digits = _subject()
    unet_before = {k: v.clone() for k, v in parts.unet.state_dict().items()}
    text_before = {k: v.clone() for k, v in parts.text_encoder.state_dict().items()}
    history = DB.train_dreambooth(parts, images, digits, _config(), class_images=images.flip(-1),
                                  class_digits=digits, batch_size=2)
    assert history.meta["steps_done"] == 3 and history.meta["variant"] == "full+prior"
    assert history.meta["trainable_parameters"] == DB.count_parameters(parts.unet)
    assert len(history["instance_loss"]) == 3 and len(history["prior_loss"]) == 3
    # the logged total is instance + prior (weight 1), each a batch mean
    for total, inst, prior in zip(history["loss"], history["instance_loss"], history["prior_loss"]):
        assert total == pytest.approx(inst + prior, rel=1e-5)
    changed = [k for k, v in parts.unet.state_dict().items() if not torch.equal(v, unet_before[k])]
    assert len(changed) > 0.5 * len(unet_before)
    assert all(torch.equal(v, text_before[k]) for k, v in parts.text_encoder.state_dict().items())


def test_training_the_text_encoder_too_moves_both_and_keeps_the_tokenizer(parts):
    images, digits = _subject()
    text_before = {k: v.clone() for k, v in parts.text_encoder.state_dict().items()}
    n_vocab = len(parts.tokenizer)
    history = DB.train_dreambooth(parts, images, digits, _config(), class_images=images.flip(-1),
                                  class_digits=digits, batch_size=2, train_text_encoder=True)
    assert history.meta["variant"] == "full+text encoder+prior"
    assert history.meta["trainable_parameters"] == (DB.count_parameters(parts.unet)
                                                    + DB.count_parameters(parts.text_encoder))
    changed = [k for k, v in parts.text_encoder.state_dict().items()
               if not torch.equal(v, text_before[k])]
    assert changed and len(parts.tokenizer) == n_vocab
    assert not any(p.requires_grad for p in parts.text_encoder.parameters())  # frozen after
    with pytest.raises(ValueError, match="train_text_encoder"):
        DB.train_dreambooth(parts, images, digits, _config(), lora_rank=4, train_text_encoder=True)


def _latents(pipe, prompt="a handwritten sks digit five", seed=0, **kwargs):
    out = pipe(prompt, num_inference_steps=3, guidance_scale=3.0, output_type="latent",
               generator=torch.Generator().manual_seed(seed), **kwargs)
    return out.images


def _lora_parts(tmp_path):
    """A random model with a trained LoRA adapter "sks", its base outputs and the saved file."""
    from genlab.pretrained.digits_t2i import make_pipeline, random_digits_t2i

    parts = random_digits_t2i(seed=0)
    pipe = make_pipeline(parts, device="cpu")
    base = _latents(pipe)
    images, digits = _subject()
    DB.train_dreambooth(parts, images, digits, _config(steps=4, lr=5e-2), lora_rank=4,
                        batch_size=2)
    adapted = _latents(pipe)
    path = DB.save_lora(parts.unet, tmp_path)
    return pipe, base, adapted, path


def test_lora_trains_a_few_percent_of_the_parameters_and_only_the_adapter(parts):
    linear_shapes = [m for name, m in parts.unet.named_modules()
                     if isinstance(m, torch.nn.Linear) and name.endswith(DB.LORA_TARGETS)]
    expected = sum(4 * (m.in_features + m.out_features) for m in linear_shapes)
    base_weights = {k: v.clone() for k, v in parts.unet.state_dict().items()}
    n = DB.add_lora(parts.unet, rank=4)
    assert n == expected > 0
    assert n < 0.1 * DB.count_parameters(parts.unet)
    trainable = [k for k, p in parts.unet.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in k for k in trainable)
    # B starts at zero: the adapted UNet starts as the base one
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 500])
    h = torch.randn(2, 12, 32)
    with torch.no_grad():
        with_adapter = parts.unet(x, t, h).sample
        parts.unet.disable_adapters()
        without = parts.unet(x, t, h).sample
    torch.testing.assert_close(with_adapter, without, rtol=0, atol=0)
    assert all(torch.equal(base_weights[k], v) for k, v in parts.unet.state_dict().items()
               if k in base_weights)


def test_lora_file_round_trips_through_load_lora_weights(tmp_path):
    from genlab.pretrained.digits_t2i import make_pipeline, random_digits_t2i

    pipe, base, adapted, path = _lora_parts(tmp_path)
    assert path.is_file() and path.stat().st_size < 100_000  # kilobytes, not the 1 MB UNet
    # the adapter really changed the outputs (else the comparisons below prove nothing)
    assert (adapted - base).abs().max() > 1e-3
    fresh = make_pipeline(random_digits_t2i(seed=0), device="cpu")
    torch.testing.assert_close(_latents(fresh), base, rtol=0, atol=0)
    fresh.load_lora_weights(str(tmp_path), adapter_name="sks")
    # same float32 computation as the in-memory adapter: only summation order may differ
    torch.testing.assert_close(_latents(fresh), adapted, rtol=1e-5, atol=1e-5)


def test_lora_off_restores_the_base_outputs_and_fusing_keeps_them(tmp_path):
    from genlab.pretrained.digits_t2i import make_pipeline, random_digits_t2i

    _, base, adapted, _ = _lora_parts(tmp_path)
    pipe = make_pipeline(random_digits_t2i(seed=0), device="cpu")
    pipe.load_lora_weights(str(tmp_path), adapter_name="sks")
    pipe.disable_lora()
    torch.testing.assert_close(_latents(pipe), base, rtol=0, atol=0)  # exactly the base model
    pipe.enable_lora()
    pipe.set_adapters(["sks"], adapter_weights=[0.0])
    # a zero-weighted update adds 0 * (B A x): exact up to the -0.0/+0.0 of float sums
    torch.testing.assert_close(_latents(pipe), base, rtol=0, atol=1e-6)
    pipe.set_adapters(["sks"], adapter_weights=[1.0])
    torch.testing.assert_close(_latents(pipe), adapted, rtol=1e-5, atol=1e-5)
    pipe.fuse_lora()
    # fused weights W + (alpha/r) B A: float32 rounding of the merged matrices
    torch.testing.assert_close(_latents(pipe), adapted, rtol=1e-4, atol=1e-4)
    pipe.unfuse_lora()
    pipe.unload_lora_weights()
    torch.testing.assert_close(_latents(pipe), base, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- targets and latents

def _v_prediction_copy(parts):
    """The model with its training scheduler switched to v-prediction (as SD 2.x's)."""
    import dataclasses

    from diffusers import DDPMScheduler

    scheduler = DDPMScheduler.from_config(parts.noise_scheduler.config, prediction_type="v_prediction")
    return dataclasses.replace(parts, noise_scheduler=scheduler)


@pytest.fixture(scope="module")
def shipped():
    from genlab.pretrained.digits_t2i import load_digits_t2i

    return load_digits_t2i(device="cpu")


def test_training_target_is_noise_velocity_or_x0_by_the_prediction_type(shipped):
    from diffusers import DDPMScheduler

    x0, noise = _tensors(1, (5, 1, 8, 8), (5, 1, 8, 8), dtype=torch.float32)
    t = torch.tensor([0, 10, 400, 800, 999])
    v_parts = _v_prediction_copy(shipped)
    abar = v_parts.noise_scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    velocity = abar.sqrt() * noise - (1 - abar).sqrt() * x0  # Salimans & Ho 2022, written out
    torch.testing.assert_close(DB.training_target(v_parts.noise_scheduler, x0, noise, t), velocity)
    assert DB.training_target(shipped.noise_scheduler, x0, noise, t) is noise  # epsilon
    sample = DDPMScheduler.from_config(shipped.noise_scheduler.config, prediction_type="sample")
    assert DB.training_target(sample, x0, noise, t) is x0
    bad = DDPMScheduler.from_config(shipped.noise_scheduler.config, prediction_type="flow")
    with pytest.raises(ValueError, match="prediction_type .* got 'flow'"):
        DB.training_target(bad, x0, noise, t)


def test_dreambooth_loss_of_a_v_prediction_model_regresses_diffusers_get_velocity(shipped):
    v_parts = _v_prediction_copy(shipped)
    images, digits = _subject()
    class_images = images.flip(-1)
    batch = DB.DreamBoothBatches(v_parts, images, digits, class_images, digits, batch_size=3)(0)
    scheduler, unet = v_parts.noise_scheduler, v_parts.unet
    with torch.no_grad():
        out = DB.dreambooth_loss_fn(scheduler, prior_weight=0.5)(unet, batch)
        x_t = scheduler.add_noise(batch["x0"], batch["noise"], batch["timesteps"])
        pred = unet(x_t, batch["timesteps"], batch["encoder_hidden_states"]).sample
    target = scheduler.get_velocity(batch["x0"], batch["noise"], batch["timesteps"])
    instance = ((pred[:3] - target[:3]) ** 2).mean()
    prior = ((pred[3:] - target[3:]) ** 2).mean()
    torch.testing.assert_close(out["loss"], instance + 0.5 * prior)
    torch.testing.assert_close(out["instance_loss"], instance)
    # the noise target would give another loss: the choice is not a no-op here
    noise_loss = ((pred[:3] - batch["noise"][:3]) ** 2).mean()
    assert not torch.isclose(instance, noise_loss, rtol=1e-3)


def test_dreambooth_trains_a_v_prediction_copy_and_lowers_its_velocity_loss(shipped):
    import copy

    v_parts = _v_prediction_copy(copy.deepcopy(shipped))
    images, digits = _subject()
    history = DB.train_dreambooth(v_parts, images, digits, _config(steps=6, lr=1e-3))
    assert torch.isfinite(torch.tensor(history["loss"])).all()


class _NoisyVAE(torch.nn.Module):
    """A VAE whose latent distribution has variance: mean x, std 0.5, scaling factor 2."""

    def __init__(self):
        super().__init__()
        from types import SimpleNamespace

        self.config = SimpleNamespace(scaling_factor=2.0)
        self.register_buffer("_anchor", torch.zeros(()))

    device = property(lambda self: self._anchor.device)
    dtype = property(lambda self: self._anchor.dtype)

    def encode(self, x):
        from types import SimpleNamespace

        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        logvar = torch.full_like(x, 2 * torch.log(torch.tensor(0.5)).item())
        return SimpleNamespace(latent_dist=DiagonalGaussianDistribution(torch.cat([x, logvar], 1)))


def test_latents_are_sampled_from_the_latent_distribution_each_batch(parts):
    import dataclasses

    images, digits = _subject()
    mean, std = DB.latent_moments(parts, images)  # the pass-through VAE: no variance
    assert std is None and torch.equal(mean, images)
    noisy = dataclasses.replace(parts, vae=_NoisyVAE())
    mean, std = DB.latent_moments(noisy, images)
    torch.testing.assert_close(mean, 2 * images)
    torch.testing.assert_close(std, torch.full_like(images, 1.0))  # 0.5 x scaling 2
    batches = DB.DreamBoothBatches(noisy, images[:1], digits[:1], batch_size=400)
    x0 = torch.cat([batches(s)["x0"] for s in range(3)])
    # every row is image 0; the latents scatter around 2 x image with std 1
    torch.testing.assert_close(x0.mean(0), 2 * images[0], atol=0.1, rtol=0)
    assert abs(x0.std(0).mean().item() - 1.0) < 0.05
    assert torch.equal(batches(1)["x0"], batches(1)["x0"])  # repeatable per step
    # the pixel model's batches are those of the deterministic path, bit for bit
    plain = DB.DreamBoothBatches(parts, images, digits, batch_size=4)(2)
    assert all(any(torch.equal(row, im) for im in images) for row in plain["x0"])
