"""Textual inversion: learn one new word for a concept, leaving the model untouched (chapter 08).

Gal et al. 2023, "An Image is Worth One Word: Personalizing Text-to-Image Generation using
Textual Inversion". A new token (here ``<bold-italic>``) is added to the tokenizer and one
row to the text encoder's embedding matrix, initialised from a related word; then that row
is the **only** trainable parameter: the UNet, the rest of the text encoder and every other
embedding row stay frozen, and the ordinary denoising loss on the few subject images,
captioned "a handwritten <bold-italic> digit three", moves the row. The result is a few
dozen numbers (the width of one embedding), saved in the file format Diffusers'
``pipe.load_textual_inversion`` reads: a safetensors file ``{token: (1, dim) tensor}``, as
``examples/textual_inversion/textual_inversion.py`` writes it.

Keeping the other rows frozen takes two steps, both here: the gradient of every other row
is zeroed after the backward pass (:func:`mask_embedding_grad_`), and, because AdamW's
decoupled weight decay would still shrink them, the other rows are copied back after each
step (:class:`RestoreFrozenRows`; the Diffusers script does only this second step).

The lesson the chapter draws: the frozen model can only be *steered* to something it can
already draw. Textual inversion finds the nearest existing concept; DreamBooth teaches a
new one.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from genlab._checks import check_int, check_tensor
from genlab.finetune.dreambooth import (_digit_list, instance_prompt, latent_moments,
                                        sample_latents, training_target)
from genlab.finetune.loop import Callback, TrainConfig, finetune

PLACEHOLDER = "<bold-italic>"
INITIALIZER = "handwritten"  # "a handwritten handwritten digit three" still draws a three
EMBEDDING_FILE = "learned_embeds.safetensors"  # the Diffusers script's file name


def _token_id_tensor(token_ids, num_rows: int, device) -> torch.Tensor:
    if isinstance(token_ids, torch.Tensor):
        if token_ids.is_floating_point() or token_ids.dtype == torch.bool:
            raise TypeError(f"token_ids must hold integers, got dtype {token_ids.dtype}")
        ids = token_ids.flatten().tolist()
    elif isinstance(token_ids, int) and not isinstance(token_ids, bool):
        ids = [token_ids]
    elif isinstance(token_ids, (list, tuple)):
        ids = list(token_ids)
    else:
        raise TypeError(f"token_ids must be an int, a list of ints or an integer tensor, got "
                        f"{type(token_ids).__name__}")
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"token_ids must hold integers, got {i!r}")
        if not 0 <= i < num_rows:
            raise ValueError(f"token_ids must be row indices in [0, {num_rows}), got {i}")
    return torch.tensor(ids, dtype=torch.long, device=device)


def mask_embedding_grad_(weight: torch.Tensor, token_ids) -> torch.Tensor:
    """Zero, in place, the gradient of every row of ``weight`` except the rows ``token_ids``.

    weight: the embedding matrix ``(vocab, dim)`` after ``backward()`` (its ``.grad`` set);
    token_ids: the rows that keep their gradient (an int, a list of ints or an integer
    tensor). The kept rows are left bit-for-bit as they were (also NaN or inf). Returns
    ``weight.grad`` (the same tensor, modified).
    """
    check_tensor("weight", weight, ndim=2, finite=False)
    if weight.grad is None:
        raise ValueError("weight has no gradient: call loss.backward() first (and check that "
                         "weight.requires_grad is True)")
    keep = torch.zeros(weight.shape[0], dtype=torch.bool, device=weight.grad.device)
    keep[_token_id_tensor(token_ids, weight.shape[0], keep.device)] = True
    weight.grad.masked_fill_(~keep.unsqueeze(1), 0.0)
    return weight.grad


class RestoreFrozenRows(Callback):
    """Loop callback: mask the embedding's gradient, and copy the frozen rows back each step.

    ``weight``: the embedding matrix being trained; ``token_ids``: the rows that learn.
    ``after_backward`` calls :func:`mask_embedding_grad_`; ``on_step_end`` restores every
    other row to its value at the start of training (AdamW's weight decay moves rows even
    with zero gradient).
    """

    def __init__(self, weight: torch.Tensor, token_ids):
        self.weight = weight
        self.token_ids = token_ids
        ids = _token_id_tensor(token_ids, weight.shape[0], weight.device)
        self.frozen = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
        self.frozen[ids] = False
        self.original = weight.detach().clone()

    def after_backward(self, state):
        if self.weight.grad is not None:
            mask_embedding_grad_(self.weight, self.token_ids)

    def on_step_end(self, state):
        with torch.no_grad():
            self.weight[self.frozen] = self.original[self.frozen].to(self.weight.device)
        return None


def add_token(parts, token: str = PLACEHOLDER, initializer: str = INITIALIZER) -> int:
    """Add ``token`` to the tokenizer and a row to the text encoder; return its id.

    The new row starts as a copy of the embedding of ``initializer`` (one existing token),
    as in Gal et al. and the Diffusers script. Raises ``ValueError`` if ``token`` exists.
    """
    tokenizer, text_encoder = parts.tokenizer, parts.text_encoder
    if not isinstance(token, str) or not token or " " in token:
        raise ValueError(f"token must be one word without spaces, got {token!r}")
    init_ids = tokenizer.encode(initializer, add_special_tokens=False)
    if len(init_ids) != 1 or init_ids[0] == tokenizer.unk_token_id:
        raise ValueError(f"initializer must be a single known token, got {initializer!r} "
                         f"-> ids {init_ids}")
    if tokenizer.add_tokens(token) == 0:
        raise ValueError(f"token {token!r} is already in the tokenizer: pick a new name")
    token_id = tokenizer.convert_tokens_to_ids(token)
    # mean_resizing=False: the new row is set just below, no need to sample one.
    text_encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        weight = text_encoder.get_input_embeddings().weight
        weight[token_id] = weight[init_ids[0]]
    return token_id


def ti_prompt(digit: int, token: str = PLACEHOLDER) -> str:
    """``"a handwritten <bold-italic> digit three"``: DreamBooth's prompt with the new word."""
    return instance_prompt(digit, identifier=token)


class _TextToImage(nn.Module):
    """UNet and text encoder in one module, so the loop can prepare and move both."""

    def __init__(self, unet, text_encoder):
        super().__init__()
        self.unet = unet
        self.text_encoder = text_encoder


class TextualInversionBatches:
    """``step -> batch`` of token ids, latents, noise and timesteps (seeded by ``(seed, step)``)."""

    def __init__(self, parts, images, digits, token: str = PLACEHOLDER, batch_size: int = 4,
                 seed: int = 0):
        check_tensor("images", images, ndim=4)
        digits = _digit_list("digits", digits)
        if len(digits) != len(images):
            raise ValueError(f"digits has {len(digits)} entries for {len(images)} images")
        check_int("batch_size", batch_size, minimum=1)
        self.batch_size, self.seed = batch_size, seed
        self.num_train_timesteps = parts.noise_scheduler.config.num_train_timesteps
        self.latents, self.latents_std = latent_moments(parts, images)
        tok = parts.tokenizer([ti_prompt(d, token) for d in digits], padding="max_length",
                              max_length=parts.tokenizer.model_max_length, truncation=True,
                              return_tensors="pt")
        self.input_ids = tok.input_ids

    def __call__(self, step: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        g_latent = torch.Generator().manual_seed(self.seed * 1_000_003 + step + 500_000_000)
        idx = torch.randint(len(self.latents), (self.batch_size,), generator=g)
        # latent_dist.sample() per batch, as the Diffusers script (the pixel model: exact)
        x0 = sample_latents(self.latents, self.latents_std, idx, g_latent)
        return {"x0": x0, "input_ids": self.input_ids[idx],
                "noise": torch.randn(x0.shape, generator=g),
                "timesteps": torch.randint(self.num_train_timesteps, (len(x0),), generator=g)}


def textual_inversion_loss_fn(noise_scheduler):
    """``loss_fn(model, batch)``: the denoising MSE through the text encoder and the UNet.

    ``model`` holds ``text_encoder`` and ``unet``; the target is
    :func:`genlab.finetune.dreambooth.training_target` (noise, velocity or x0 by the
    scheduler's ``prediction_type``, as the Diffusers script).
    """
    def loss_fn(model, batch):
        hidden = model.text_encoder(batch["input_ids"])[0]
        x_t = noise_scheduler.add_noise(batch["x0"], batch["noise"], batch["timesteps"])
        pred = model.unet(x_t, batch["timesteps"], hidden).sample
        target = training_target(noise_scheduler, batch["x0"], batch["noise"], batch["timesteps"])
        return F.mse_loss(pred.float(), target.float())

    return loss_fn


def train_textual_inversion(parts, images: torch.Tensor, digits, config=None, *,
                            token: str = PLACEHOLDER, initializer: str = INITIALIZER,
                            batch_size: int = 4, callbacks=()):
    """Add ``token`` and learn its embedding row on ``images`` of classes ``digits``, in place.

    Only the new row trains (see the module docstring); the UNet and every other
    parameter are frozen. config: a :class:`genlab.finetune.loop.TrainConfig` (default:
    200 steps, lr 2e-2, weight decay 1e-2 as the Diffusers script; its lr 5e-4 with
    ``scale_lr`` is for a 768-wide CLIP). Returns the loop's History; ``meta["token_id"]``
    is the new row, ``meta["learned_numbers"]`` its width.
    """
    if config is None:
        config = TrainConfig(steps=200, lr=2e-2, weight_decay=1e-2)
    token_id = add_token(parts, token, initializer)
    parts.unet.requires_grad_(False)
    parts.text_encoder.requires_grad_(False)
    weight = parts.text_encoder.get_input_embeddings().weight
    weight.requires_grad_(True)
    model = _TextToImage(parts.unet, parts.text_encoder)
    loss_fn = textual_inversion_loss_fn(parts.noise_scheduler)
    batches = TextualInversionBatches(parts, images, digits, token, batch_size, config.seed)
    history = finetune(model, loss_fn, batches, config, params=[weight],
                       callbacks=[RestoreFrozenRows(weight, [token_id]), *callbacks])
    weight.requires_grad_(False)
    parts.unet.eval()
    parts.text_encoder.eval()
    history.meta["token_id"] = token_id
    # The loop counts the whole matrix (requires_grad is per tensor); one row learns.
    history.meta["learned_numbers"] = weight.shape[1]
    history.meta["variant"] = "textual inversion"
    return history


def learned_embedding(parts, token: str = PLACEHOLDER) -> torch.Tensor:
    """The embedding row of ``token``, ``(dim,)``, detached on the CPU."""
    token_id = parts.tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == parts.tokenizer.unk_token_id:
        raise ValueError(f"token {token!r} is not in the tokenizer")
    return parts.text_encoder.get_input_embeddings().weight[token_id].detach().cpu().clone()


def save_textual_inversion(parts, folder: str | Path, token: str = PLACEHOLDER) -> Path:
    """Write ``{token: (1, dim)}`` to ``folder/learned_embeds.safetensors``; return the path.

    ``pipe.load_textual_inversion(path)`` on a pipeline of the *base* model adds the token
    and its row back (the file carries the token's name).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / EMBEDDING_FILE
    save_file({token: learned_embedding(parts, token).unsqueeze(0).contiguous()}, str(path))
    return path
