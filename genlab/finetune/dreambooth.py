"""DreamBooth: teach a text-to-image model a new subject from a few images (chapter 08).

Ruiz et al. 2023, "DreamBooth: Fine Tuning Text-to-Image Diffusion Models for
Subject-Driven Generation". The subject's few images are captioned with a **rare
identifier** in front of the class noun ("a handwritten sks digit three"), and the model is
fine-tuned with the ordinary denoising loss on them. Alone, that overwrites what the class
words mean ("language drift": every "digit three" becomes the subject) and collapses the
class's variety. The fix is the **prior-preservation loss**: images of the class generated
by the *frozen* model before fine-tuning, captioned with the plain class prompt, are
trained on alongside, so the model keeps drawing them:

    L = E ||eps - eps_theta(x_t, t, c_subject)||^2
        + lambda * E ||eps' - eps_theta(x'_t', t', c_class)||^2        (Ruiz et al. eq. 2)

with both terms batch means, as in Diffusers' ``examples/dreambooth/train_dreambooth.py``
(``prior_loss_weight`` = lambda = 1 by default).

Two variants train on the shared Accelerate loop (:mod:`genlab.finetune.loop`):

- **full**: every UNet weight trains, and with ``train_text_encoder=True`` every
  text-encoder weight too (Diffusers' ``--train_text_encoder``; frozen by default); the
  result is a whole new UNet (and text encoder) checkpoint.
- **LoRA-DreamBooth** (Diffusers' ``train_dreambooth_lora.py``): the UNet is frozen and PEFT
  adds rank-r updates to the attention projections through ``unet.add_adapter(LoraConfig)``
  (Hu et al. 2021); only those train, and :func:`save_lora` writes them with
  ``StableDiffusionPipeline.save_lora_weights`` in the file ``pipe.load_lora_weights``
  reads, a few kilobytes.

Everything works on "latents": ``parts.vae.encode`` is the identity for the course's pixel
model and Stable Diffusion's VAE for a real checkpoint, so the same functions fine-tune both.
As in Diffusers' scripts, each batch *samples* its latents from the VAE's ``latent_dist``
(mean plus standard deviation times fresh noise; the pass-through VAE has no variance, so
its latents are the pixels), and the UNet regresses the target its scheduler's
``prediction_type`` names (:func:`training_target`): the noise for ``"epsilon"`` (the
course's model, Stable Diffusion 1.x), the velocity ``get_velocity(x0, noise, t)`` for
``"v_prediction"`` (Stable Diffusion 2.x at 768 px), the clean latents for ``"sample"``.
The formulas above are written for epsilon.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab._checks import check_int, check_positive, check_same_shape, check_tensor
from genlab.finetune.guidance import guided_sample
from genlab.finetune.loop import TrainConfig, finetune
from genlab.pretrained.digits_t2i import NUMBER_WORDS, caption, encode_prompts

IDENTIFIER = "sks"  # the rare token of the paper and of Diffusers' examples
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")  # attention projections, as train_dreambooth_lora.py
LORA_FILE = "pytorch_lora_weights.safetensors"  # the name save_lora_weights writes
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")  # a diffusers scheduler's choices


# --------------------------------------------------------------------------- the loss

def prior_preservation_loss(pred: torch.Tensor, target: torch.Tensor,
                            prior_pred: torch.Tensor, prior_target: torch.Tensor,
                            prior_weight: float = 1.0) -> torch.Tensor:
    """DreamBooth's loss: ``MSE(pred, target) + prior_weight * MSE(prior_pred, prior_target)``.

    pred, target: the network's prediction and its target (the noise for an epsilon
    model, see :func:`training_target`) on the *subject* images, any shape
    ``(batch, ...)``; prior_pred, prior_target: the same on the *class*
    images (their batch may differ in size). Each MSE is the mean over every element (a
    batch mean, Diffusers' ``F.mse_loss(..., reduction="mean")``). prior_weight: lambda of
    Ruiz et al. eq. 2 (>= 0; 0 is plain fine-tuning). Returns a scalar, computed in float32
    at least (as the Diffusers script does for half-precision predictions).
    """
    for name, x in (("pred", pred), ("target", target), ("prior_pred", prior_pred),
                    ("prior_target", prior_target)):
        check_tensor(name, x, min_ndim=1)
        if x.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one sample, got shape {tuple(x.shape)}")
    check_same_shape("pred", pred, "target", target)
    check_same_shape("prior_pred", prior_pred, "prior_target", prior_target)
    check_positive("prior_weight", prior_weight, allow_zero=True)
    dtype = torch.promote_types(pred.dtype, torch.float32)
    instance = F.mse_loss(pred.to(dtype), target.to(dtype), reduction="mean")
    prior = F.mse_loss(prior_pred.to(dtype), prior_target.to(dtype), reduction="mean")
    return instance + prior_weight * prior


# --------------------------------------------------------------------------- prompts and data

def _number_word(digit: int) -> str:
    check_int("digit", digit, minimum=0)
    if digit > 9:
        raise ValueError(f"digit must be 0-9, got {digit}")
    return NUMBER_WORDS[digit]


def class_prompt(digit: int) -> str:
    """The plain prompt of a class: ``"a handwritten digit three"`` (caption template 0)."""
    return caption(digit, 0)


def instance_prompt(digit: int, identifier: str = IDENTIFIER) -> str:
    """The class prompt with the identifier before the class noun: ``"a handwritten sks digit three"``."""
    if not isinstance(identifier, str) or not identifier or " " in identifier:
        raise ValueError(f"identifier must be one word, got {identifier!r}")
    return f"a handwritten {identifier} digit {_number_word(digit)}"


def _digit_list(name: str, digits) -> list[int]:
    if isinstance(digits, torch.Tensor):
        digits = digits.tolist()
    digits = list(digits)
    if not digits or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 9
                         for d in digits):
        raise ValueError(f"{name} must be a non-empty list of digits 0-9, got {digits!r}")
    return digits


@torch.no_grad()
def generate_class_images(parts, digits, per_digit: int = 25, guidance_scale: float = 3.0,
                          num_inference_steps: int = 20, seed: int = 0
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """The prior-preservation set: ``per_digit`` samples of the *frozen* model per class prompt.

    Generated once, before fine-tuning, with :func:`genlab.finetune.guidance.guided_sample`
    (DDIM, classifier-free guidance ``guidance_scale``). Returns ``(images (n, C, H, W) on
    the CPU, digits (n,))``, ``n = len(digits) * per_digit``.
    """
    digits = _digit_list("digits", digits)
    check_int("per_digit", per_digit, minimum=1)
    labels = torch.tensor(digits).repeat_interleave(per_digit)
    prompts = [class_prompt(d) for d in labels.tolist()]
    generator = torch.Generator().manual_seed(seed)
    images = guided_sample(parts, prompts, guidance_scale, num_inference_steps=num_inference_steps,
                           generator=generator)
    # clamped to the pixel range, as the pipeline's output (and images a user would hand in)
    return images.detach().cpu().clamp(-1, 1), labels


def training_target(noise_scheduler, x0: torch.Tensor, noise: torch.Tensor,
                    timesteps: torch.Tensor) -> torch.Tensor:
    """What the UNet regresses, by ``noise_scheduler.config.prediction_type``.

    x0: clean latents ``(batch, C, H, W)``; noise: the added noise, same shape; timesteps:
    ``(batch,)`` integers. ``"epsilon"``: the noise; ``"v_prediction"``: the velocity
    ``sqrt(abar_t) noise - sqrt(1 - abar_t) x0`` (Salimans & Ho 2022), computed by the
    scheduler's own ``get_velocity`` as Diffusers' training scripts do; ``"sample"``: x0.
    Any other type raises ``ValueError`` naming it.
    """
    kind = noise_scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return noise_scheduler.get_velocity(x0, noise, timesteps)
    if kind == "sample":
        return x0
    raise ValueError(f"noise_scheduler.config.prediction_type must be one of "
                     f"{PREDICTION_TYPES}, got {kind!r}")


@torch.no_grad()
def latent_moments(parts, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images -> the mean and standard deviation of the VAE's latent distribution.

    Both scaled by ``vae.config.scaling_factor`` and on the CPU, ``(n, C, h, w)``; the
    standard deviation is None when the distribution has no variance (the pixel model's
    pass-through VAE). The frozen VAE is run once; :func:`sample_latents` then draws
    fresh latents per batch, as ``latent_dist.sample()`` in Diffusers' training loops.
    """
    vae = parts.vae
    images = images.to(device=vae.device, dtype=vae.dtype)
    dist = vae.encode(images).latent_dist
    scale = vae.config.scaling_factor
    std = None if getattr(dist, "deterministic", False) or not bool(dist.std.any()) \
        else (dist.std * scale).float().cpu()
    return (dist.mean * scale).float().cpu(), std


def sample_latents(mean: torch.Tensor, std: torch.Tensor | None, index: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor:
    """Latents of the images ``index``: ``mean + std * noise`` (just ``mean`` if std is None)."""
    if std is None:
        return mean[index]
    return mean[index] + std[index] * torch.randn(mean[index].shape, generator=generator)


def _token_ids(parts, prompts: list[str]) -> torch.Tensor:
    tok = parts.tokenizer(prompts, padding="max_length", max_length=parts.tokenizer.model_max_length,
                          truncation=True, return_tensors="pt")
    return tok.input_ids


class TextToImage(nn.Module):
    """UNet and text encoder in one module, so the loop can prepare, move and train both."""

    def __init__(self, unet, text_encoder):
        super().__init__()
        self.unet = unet
        self.text_encoder = text_encoder


@torch.no_grad()
def _embed(parts, prompts: list[str]) -> torch.Tensor:
    return encode_prompts(parts, prompts).cpu()


class DreamBoothBatches:
    """A function ``step -> batch`` for :func:`genlab.finetune.loop.finetune`.

    Each batch holds ``batch_size`` subject images (drawn with replacement from the few
    references) and, with a prior set, ``batch_size`` class images, in that order, with
    their precomputed text embeddings (the text encoder is frozen), fresh noise and
    uniform timesteps. Draws come from a generator seeded by ``(seed, step)``, so a run is
    repeatable whatever else uses the global RNG.
    """

    def __init__(self, parts, instance_images, instance_digits, class_images=None,
                 class_digits=None, batch_size: int = 4, seed: int = 0,
                 identifier: str = IDENTIFIER):
        check_tensor("instance_images", instance_images, ndim=4)
        instance_digits = _digit_list("instance_digits", instance_digits)
        if len(instance_digits) != len(instance_images):
            raise ValueError(f"instance_digits has {len(instance_digits)} entries for "
                             f"{len(instance_images)} instance_images")
        if (class_images is None) != (class_digits is None):
            raise ValueError("give class_images and class_digits together (or neither)")
        check_int("batch_size", batch_size, minimum=1)
        check_int("seed", seed, minimum=0)
        self.batch_size, self.seed = batch_size, seed
        self.num_train_timesteps = parts.noise_scheduler.config.num_train_timesteps
        self.instance, self.instance_std = latent_moments(parts, instance_images)
        prompts = [instance_prompt(d, identifier) for d in instance_digits]
        self.instance_text = _embed(parts, prompts)
        self.instance_ids = _token_ids(parts, prompts)
        self.prior = class_images is not None
        if self.prior:
            check_tensor("class_images", class_images, ndim=4)
            class_digits = _digit_list("class_digits", class_digits)
            if len(class_digits) != len(class_images):
                raise ValueError(f"class_digits has {len(class_digits)} entries for "
                                 f"{len(class_images)} class_images")
            self.classes, self.classes_std = latent_moments(parts, class_images)
            # One embedding per class prompt, indexed per image (few prompts, many images).
            unique = sorted(set(class_digits))
            rows = [unique.index(d) for d in class_digits]
            self.class_text = _embed(parts, [class_prompt(d) for d in unique])[rows]
            self.class_ids = _token_ids(parts, [class_prompt(d) for d in unique])[rows]

    def __call__(self, step: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        # The VAE's latent noise has its own stream, so a stochastic VAE leaves the
        # draws of images, noise and timesteps as they are for the pixel model.
        g_latent = torch.Generator().manual_seed(self.seed * 1_000_003 + step + 500_000_000)
        idx = torch.randint(len(self.instance), (self.batch_size,), generator=g)
        x0 = [sample_latents(self.instance, self.instance_std, idx, g_latent)]
        text, ids = [self.instance_text[idx]], [self.instance_ids[idx]]
        if self.prior:
            cidx = torch.randint(len(self.classes), (self.batch_size,), generator=g)
            x0.append(sample_latents(self.classes, self.classes_std, cidx, g_latent))
            text.append(self.class_text[cidx])
            ids.append(self.class_ids[cidx])
        x0, text = torch.cat(x0), torch.cat(text)
        return {
            "x0": x0,
            "encoder_hidden_states": text,  # of the frozen text encoder
            "input_ids": torch.cat(ids),     # for a text encoder that trains
            "noise": torch.randn(x0.shape, generator=g),
            "timesteps": torch.randint(self.num_train_timesteps, (len(x0),), generator=g),
            "num_instance": torch.tensor(self.batch_size),
        }


def dreambooth_loss_fn(noise_scheduler, prior_weight: float = 1.0):
    """``loss_fn(model, batch)`` for the loop: the MSE to :func:`training_target` (the
    noise, the velocity or x0, by the scheduler's ``prediction_type``), with the prior term
    when the batch carries class images. Logs ``instance_loss`` and ``prior_loss`` separately.
    ``model`` is the UNet (the batch carries the frozen text encoder's embeddings) or a
    :class:`TextToImage` (its text encoder encodes the batch's ``input_ids``)."""
    check_positive("prior_weight", prior_weight, allow_zero=True)

    def loss_fn(model, batch):
        if isinstance(model, TextToImage):
            unet, text = model.unet, model.text_encoder(batch["input_ids"])[0]
        else:
            unet, text = model, batch["encoder_hidden_states"]
        x_t = noise_scheduler.add_noise(batch["x0"], batch["noise"], batch["timesteps"])
        pred = unet(x_t, batch["timesteps"], text).sample
        target = training_target(noise_scheduler, batch["x0"], batch["noise"], batch["timesteps"])
        k = int(batch["num_instance"])
        if k == len(pred):
            return F.mse_loss(pred.float(), target.float())
        pred_i, pred_c = pred[:k], pred[k:]
        target_i, target_c = target[:k], target[k:]
        loss = prior_preservation_loss(pred_i, target_i, pred_c, target_c, prior_weight)
        return {"loss": loss,
                "instance_loss": F.mse_loss(pred_i.detach().float(), target_i.float()),
                "prior_loss": F.mse_loss(pred_c.detach().float(), target_c.float())}

    return loss_fn


# --------------------------------------------------------------------------- LoRA

def add_lora(unet, rank: int = 4, alpha: float | None = None, target_modules=LORA_TARGETS,
             adapter_name: str = IDENTIFIER) -> int:
    """Freeze ``unet`` and add a PEFT LoRA adapter; return the number of trainable numbers.

    ``unet.add_adapter(LoraConfig(r=rank, lora_alpha=alpha or rank,
    init_lora_weights="gaussian", target_modules=...))``, as Diffusers'
    ``train_dreambooth_lora.py`` does: A is Gaussian, B zero, so the adapted UNet starts
    exactly as the pretrained one.
    """
    from peft import LoraConfig

    check_int("rank", rank, minimum=1)
    alpha = rank if alpha is None else alpha
    check_positive("alpha", alpha)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights="gaussian",
                                target_modules=list(target_modules)), adapter_name=adapter_name)
    return sum(p.numel() for p in unet.parameters() if p.requires_grad)


def lora_state_dict(unet, adapter_name: str = IDENTIFIER) -> dict[str, torch.Tensor]:
    """The adapter's tensors in Diffusers' naming (what ``save_lora_weights`` expects)."""
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(unet, adapter_name=adapter_name)
    return convert_state_dict_to_diffusers(state)


def save_lora(unet, folder: str | Path, adapter_name: str = IDENTIFIER) -> Path:
    """Write the adapter with ``StableDiffusionPipeline.save_lora_weights``; return the file.

    The file (``pytorch_lora_weights.safetensors`` in ``folder``) holds only the low-rank
    matrices; ``pipe.load_lora_weights(folder, adapter_name=...)`` reads it into any
    pipeline built on the same base model.
    """
    from diffusers import StableDiffusionPipeline

    folder = Path(folder)
    StableDiffusionPipeline.save_lora_weights(
        str(folder), unet_lora_layers=lora_state_dict(unet, adapter_name), safe_serialization=True)
    return folder / LORA_FILE


# --------------------------------------------------------------------------- training

def train_dreambooth(parts, instance_images: torch.Tensor, instance_digits, config=None, *,
                     class_images: torch.Tensor | None = None, class_digits=None,
                     prior_weight: float = 1.0, batch_size: int = 4, lora_rank: int | None = None,
                     lora_alpha: float | None = None, adapter_name: str = IDENTIFIER,
                     identifier: str = IDENTIFIER, train_text_encoder: bool = False,
                     callbacks=()):
    """Fine-tune ``parts.unet`` on the subject, in place; return the loop's History.

    instance_images: the few subject images ``(k, C, H, W)`` in the model's pixel range;
    instance_digits: their classes (the prompt of image i is
    ``instance_prompt(instance_digits[i], identifier)``).
    class_images, class_digits: the prior-preservation set (:func:`generate_class_images`);
    None trains without it (plain fine-tuning, to show language drift).
    lora_rank: None fine-tunes every UNet weight; an int freezes the UNet and trains a LoRA
    adapter of that rank named ``adapter_name`` (:func:`add_lora`).
    train_text_encoder: also fine-tune every text-encoder weight (Diffusers'
    ``--train_text_encoder``; full variant only): the identifier's prompts can then move
    away from the class prompts in the text embedding, not only in the UNet.
    config: a :class:`genlab.finetune.loop.TrainConfig` (default: 150 steps, lr 1e-3 for
    full, 1e-2 for LoRA, chosen on the course's model; Stable Diffusion wants 5e-6 / 1e-4).
    The UNet is left in eval mode; ``History.meta`` records the trainable parameters.
    """
    if config is None:
        config = TrainConfig(steps=150, lr=1e-3 if lora_rank is None else 1e-2)
    unet = parts.unet
    parts.text_encoder.requires_grad_(False)
    if train_text_encoder and lora_rank is not None:
        raise ValueError("train_text_encoder works with the full variant (lora_rank=None) only")
    if lora_rank is None:
        unet.requires_grad_(True)
    else:
        add_lora(unet, lora_rank, lora_alpha, adapter_name=adapter_name)
    batches = DreamBoothBatches(parts, instance_images, instance_digits, class_images,
                                class_digits, batch_size=batch_size, seed=config.seed,
                                identifier=identifier)
    model = unet
    if train_text_encoder:
        parts.text_encoder.requires_grad_(True)
        model = TextToImage(unet, parts.text_encoder)
    history = finetune(model, dreambooth_loss_fn(parts.noise_scheduler, prior_weight), batches,
                       config, callbacks=callbacks)
    unet.requires_grad_(False)
    parts.text_encoder.requires_grad_(False)
    unet.eval()
    parts.text_encoder.eval()
    history.meta["variant"] = ("lora" if lora_rank is not None else "full") + \
        ("+text encoder" if train_text_encoder else "") + \
        ("+prior" if class_images is not None else "")
    return history


def count_parameters(module: Any) -> int:
    """Number of numbers in ``module``'s parameters."""
    return sum(p.numel() for p in module.parameters())
