"""The course's text-to-image model: a tiny Stable-Diffusion-shaped model of the 8x8 digits.

Chapter 08 (personalization) fine-tunes it. It is made of the library classes that real
text-to-image models use, so the same code runs on a Stable Diffusion checkpoint:

- ``unet``: a diffusers ``UNet2DConditionModel`` in pixel space (1 x 8 x 8 digits in
  [-1, 1]), cross-attending to the prompt at 4x4 and in the middle block;
- ``text_encoder``: a 2-layer, 32-wide transformers ``CLIPTextModel`` built from its config
  (random init, trained with the UNet);
- ``tokenizer``: a word-level ``PreTrainedTokenizerFast`` we build (no files to download);
  its vocabulary has the caption words, the ten number words, the rare identifier ``sks``
  and a few spare words that never appear in pretraining captions;
- ``noise_scheduler``: the ``DDPMScheduler`` of training (cosine schedule, 1000 steps);
- ``vae``: :class:`PassThroughVAE`, the identity, so that ``StableDiffusionPipeline`` runs in
  pixel space ("latents" are the images).

Captions are ``caption(k, template)``; 10% of training captions are dropped to the empty
prompt, whose text embedding is the unconditional input of classifier-free guidance (Ho &
Salimans 2022), exactly what ``StableDiffusionPipeline`` uses when ``negative_prompt`` is None.

``python -m genlab.pretrained build digits-t2i`` (:mod:`genlab.recipes.digits_t2i`) retrains
it (a few CPU minutes) into the
folder ``digits-t2i/`` (``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``: the
layout of a Stable Diffusion repository) and records the SHA-256 of every file in
``registry.json``; :func:`load_digits_t2i` verifies them before reading a tensor.

Every sampler is ``DDIMScheduler(..., clip_sample=False, steps_offset=1)``: the default
``clip_sample=True`` clips the predicted x0 but keeps the guided noise for the direction
term, which breaks guidance at w >= 3, and ``StableDiffusionPipeline`` silently rewrites
both settings, so a hand loop with the defaults would not match the pipeline.

Reproducibility: training runs on one thread with seeded generators and deterministic
algorithms, so a rebuild on the same machine gives the same bytes; other CPUs' float32
kernels may differ in the last bits (the registry records the hashes of the shipped files).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from genlab._checks import check_int
from genlab.device import get_device
from genlab.pretrained import store

NAME = "digits-t2i"
FOLDER = "digits-t2i"  # a hyphen: not importable, so it can't shadow this module
SUBFOLDERS = ("unet", "text_encoder", "tokenizer", "scheduler")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = (
    "a handwritten digit {}",
    "the digit {}",
    "digit {}",
    "{}",
    "a drawing of the number {}",
)
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
# Words never used in pretraining captions: ``sks`` is the rare identifier of DreamBooth
# (its embedding stays a random vector, like a rare token of a real tokenizer); the others
# let the chapter write prompts such as "a thick digit seven in sks style".
SPARE_WORDS = ("sks", "style", "in", "thick", "thin", "slanted", "bold", "photo", "an")
CAPTION_WORDS = ("a", "handwritten", "digit", "the", "drawing", "of", "number")
MAX_LENGTH = 12  # tokens, with <bos> and <eos>

# The recipe is part of what the hashes pin down: change one and rebuild.
RECIPE = {
    "unet": {
        "sample_size": 8,
        "in_channels": 1,
        "out_channels": 1,
        "block_out_channels": [16, 32],
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
        "layers_per_block": 1,
        "cross_attention_dim": 32,
        "attention_head_dim": 4,
        "norm_num_groups": 8,
    },
    "text_encoder": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": MAX_LENGTH,
    },
    "scheduler": {
        "num_train_timesteps": 1000,
        "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": "epsilon",
        "clip_sample": False,
    },
    "steps": 750,
    "batch_size": 128,
    "lr": 2e-3,
    "warmup_steps": 100,
    "max_grad_norm": 1.0,
    "ema_decay": 0.995,
    "caption_dropout": 0.1,
    "seed": 0,
    "data": "genlab.data.load_digits('train'), captions caption(k, template) for a random template",
    "train_dtype": "float32",
    "threads": 1,
}


def vocabulary() -> list[str]:
    """The tokenizer's words in id order: special tokens, caption words, numbers, spares."""
    return [*SPECIAL_TOKENS, *CAPTION_WORDS, *NUMBER_WORDS, *SPARE_WORDS]


def caption(digit: int, template: int = 0) -> str:
    """The caption of ``digit`` (0-9) in template ``template`` (0-4).

    >>> caption(3), caption(3, 4)
    ('a handwritten digit three', 'a drawing of the number three')
    """
    check_int("digit", digit, minimum=0)
    check_int("template", template, minimum=0)
    if digit > 9:
        raise ValueError(f"digit must be 0-9, got {digit}")
    if template >= len(TEMPLATES):
        raise ValueError(f"template must be 0-{len(TEMPLATES) - 1}, got {template}")
    return TEMPLATES[template].format(NUMBER_WORDS[digit])


# ---------------------------------------------------------------- the components

def _pass_through_vae_class():
    """Define :class:`PassThroughVAE` on first use (keeps ``import genlab`` free of diffusers)."""
    from diffusers.configuration_utils import ConfigMixin, register_to_config
    from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
    from diffusers.models.modeling_outputs import AutoencoderKLOutput
    from diffusers.models.modeling_utils import ModelMixin

    class PassThroughVAE(ModelMixin, ConfigMixin):
        """The identity in the place of Stable Diffusion's VAE: latents are the pixels.

        ``StableDiffusionPipeline`` reads ``config.block_out_channels`` (one entry: the
        pipeline's ``vae_scale_factor`` is 1, so the image is the UNet's ``sample_size``),
        ``config.scaling_factor`` (1: no rescaling) and calls ``decode``. ``encode`` returns
        a zero-variance ``latent_dist`` so that training scripts written for a real VAE
        (``vae.encode(x).latent_dist.sample() * vae.config.scaling_factor``) work unchanged.
        """

        @register_to_config
        def __init__(self, latent_channels: int = 1, scaling_factor: float = 1.0,
                     block_out_channels: tuple = (1,)):
            super().__init__()
            # One buffer gives the model a device and a dtype (the pipeline asks for both).
            self.register_buffer("_anchor", torch.zeros(()), persistent=False)

        def encode(self, x: torch.Tensor, return_dict: bool = True):
            # Mean x, log-variance 0, deterministic: sample() and mode() both return x.
            dist = DiagonalGaussianDistribution(torch.cat([x, torch.zeros_like(x)], dim=1),
                                                deterministic=True)
            return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

        def decode(self, z: torch.Tensor, return_dict: bool = True, generator=None):
            return DecoderOutput(sample=z) if return_dict else (z,)

        def forward(self, sample: torch.Tensor, return_dict: bool = True):
            return self.decode(sample, return_dict=return_dict)

    # Importable by name (``genlab.pretrained.digits_t2i.PassThroughVAE``), as diffusers
    # records a component's module and class when a pipeline is saved.
    PassThroughVAE.__module__ = __name__
    PassThroughVAE.__qualname__ = "PassThroughVAE"
    return PassThroughVAE


@contextmanager
def quiet_hf():
    """Silence Hugging Face progress bars and info warnings (restored on exit).

    Used around loading and pipeline construction: the "Loading weights" bars and the
    torchvision notice printed on importing ``StableDiffusionPipeline`` say nothing to a
    learner.
    """
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    levels = tlog.get_verbosity(), dlog.get_verbosity()
    bars = tlog.is_progress_bar_enabled(), dlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    dlog.set_verbosity_error()
    tlog.disable_progress_bar()
    dlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(levels[0])
        dlog.set_verbosity(levels[1])
        if bars[0]:
            tlog.enable_progress_bar()
        if bars[1]:
            dlog.enable_progress_bar()


@lru_cache(maxsize=1)
def _cached_vae_class():
    return _pass_through_vae_class()


def __getattr__(attr: str):
    # ``from genlab.pretrained.digits_t2i import PassThroughVAE`` imports diffusers then.
    if attr == "PassThroughVAE":
        return _cached_vae_class()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


@dataclass
class T2IParts:
    """The components of a text-to-image diffusion model, as ``StableDiffusionPipeline`` names them.

    unet: ``UNet2DConditionModel`` (epsilon prediction); text_encoder: ``CLIPTextModel``;
    tokenizer: a transformers tokenizer (word level for ours, CLIP BPE for Stable Diffusion);
    noise_scheduler: the training ``DDPMScheduler``; vae: :class:`PassThroughVAE` for ours,
    ``AutoencoderKL`` for Stable Diffusion.
    """

    unet: Any
    text_encoder: Any
    tokenizer: Any
    noise_scheduler: Any
    vae: Any

    @property
    def device(self) -> torch.device:
        return self.unet.device

    def to(self, device) -> T2IParts:
        """Move the networks to ``device`` (in place); returns self."""
        for net in (self.unet, self.text_encoder, self.vae):
            net.to(device)
        return self


def build_tokenizer():
    """The word-level tokenizer: lower-cases, splits on whitespace, adds <bos> ... <eos>."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A <eos>", special_tokens=[("<bos>", vocab["<bos>"]), ("<eos>", vocab["<eos>"])])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>", unk_token="<unk>", model_max_length=MAX_LENGTH)


def _text_encoder_config(vocab_size: int):
    from transformers import CLIPTextConfig

    # Explicit special ids: CLIP's defaults (49406, 49407) lie outside our vocabulary.
    # CLIPTextModel pools at the first eos_token_id (not at argmax of the ids).
    return CLIPTextConfig(vocab_size=vocab_size, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                          **RECIPE["text_encoder"])


def build_noise_scheduler():
    """The training schedule: ``DDPMScheduler`` with the cosine schedule of Nichol & Dhariwal 2021."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**RECIPE["scheduler"])


def random_digits_t2i(seed: int = 0) -> T2IParts:
    """The architecture of the shipped model, untrained (seeded): for fast tests.

    Everything is on the CPU, float32, in eval mode.
    """
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    check_int("seed", seed, minimum=0)
    tokenizer = build_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**RECIPE["unet"])
        text_encoder = CLIPTextModel(_text_encoder_config(len(tokenizer)))
    return T2IParts(unet.eval(), text_encoder.eval(), tokenizer, build_noise_scheduler(),
                    _cached_vae_class()().eval())


def make_ddim_scheduler(parts_or_config) -> Any:
    """A ``DDIMScheduler`` on the training schedule, with ``clip_sample=False, steps_offset=1``.

    ``parts_or_config``: a :class:`T2IParts`, a scheduler, or a scheduler config (dict).
    ``clip_sample=False``: clipping the predicted x0 while the guided noise is kept for the
    direction term breaks classifier-free guidance (see the module docstring);
    ``steps_offset=1``: what ``StableDiffusionPipeline`` would set anyway.
    """
    from diffusers import DDIMScheduler

    if isinstance(parts_or_config, T2IParts):
        config = parts_or_config.noise_scheduler.config
    elif hasattr(parts_or_config, "config") and hasattr(parts_or_config, "step"):
        config = parts_or_config.config
    elif isinstance(parts_or_config, dict):
        config = parts_or_config
    else:
        raise TypeError("parts_or_config must be T2IParts, a diffusers scheduler or a config dict, "
                        f"got {type(parts_or_config).__name__}")
    return DDIMScheduler.from_config(config, clip_sample=False, steps_offset=1)


def make_pipeline(parts: T2IParts, device=None):
    """``StableDiffusionPipeline`` on ``parts`` with a DDIM scheduler, safety checker off.

    ``device`` defaults to ``genlab.get_device()``. The pipeline shares the parts' modules
    (no copies): fine-tuning ``parts.unet`` changes what the pipeline draws. Its progress
    bar is off (``pipe.set_progress_bar_config(disable=False)`` turns it on).
    """
    if not isinstance(parts, T2IParts):
        raise TypeError(f"parts must be T2IParts, got {type(parts).__name__}")
    with quiet_hf():
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline(
            vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer,
            unet=parts.unet, scheduler=make_ddim_scheduler(parts), safety_checker=None,
            feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)  # 20 steps of a tiny model: nothing to wait for
    return pipe.to(device if device is not None else get_device())


def encode_prompts(parts: T2IParts, prompts) -> torch.Tensor:
    """Text embeddings ``(batch, max_length, hidden)`` of ``prompts``, as the pipeline computes them.

    Pads to the tokenizer's ``model_max_length`` without an attention mask and takes the
    text encoder's last hidden state (``StableDiffusionPipeline.encode_prompt`` with
    ``clip_skip=None``). ``""`` gives the unconditional embedding. Gradients flow (call it
    under ``torch.no_grad()`` to sample).
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if not (isinstance(prompts, (list, tuple)) and prompts and all(isinstance(p, str) for p in prompts)):
        raise TypeError(f"prompts must be a string or a non-empty list of strings, got {prompts!r}")
    tokens = parts.tokenizer(list(prompts), padding="max_length",
                             max_length=parts.tokenizer.model_max_length, truncation=True,
                             return_tensors="pt")
    return parts.text_encoder(tokens.input_ids.to(parts.text_encoder.device))[0]


# ---------------------------------------------------------------- files and hashes

def package_folder() -> Path:
    """Where the shipped model lives: ``genlab/pretrained/digits-t2i``."""
    return store.package_dir() / FOLDER


def model_files(folder: str | Path) -> list[str]:
    """The files of a saved model, as sorted POSIX paths relative to ``folder``."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for sub in SUBFOLDERS
                  for p in (folder / sub).rglob("*") if p.is_file())


def verify(folder: str | Path | None = None) -> Path:
    """Check every file of the model against the SHA-256s in ``folder``'s registry (default:
    the package's, ``genlab/pretrained``); return the model's folder, ``folder/digits-t2i``.

    Raises ``FileNotFoundError`` for a missing entry or file and ``ChecksumError`` for a
    changed or extra file (:func:`genlab.pretrained.store.verify`).
    """
    return store.verify(NAME, folder)


def registry_entry() -> dict:
    """The shipped model's registry entry: files and hashes, accuracies, recipe, CPU seconds."""
    return store.entry(NAME)


def load_digits_t2i(path: str | Path | None = None, device=None) -> T2IParts:
    """Load a text-to-image model: the shipped one (hash-checked), a folder or a hub id.

    path: None for the shipped model (every file's SHA-256 verified first); a local folder
    in the Stable Diffusion layout (``unet/``, ``text_encoder/``, ``tokenizer/``,
    ``scheduler/``, optionally ``vae/``); or a hub id such as
    ``"stable-diffusion-v1-5/stable-diffusion-v1-5"`` (needs network; no hash check).
    Without a ``vae/`` subfolder the VAE is :class:`PassThroughVAE`. device defaults to
    ``genlab.get_device()``. The networks are float32 and in eval mode.
    """
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    if path is None:
        source = str(verify())
    elif isinstance(path, (str, Path)):
        source = str(path)
    else:
        raise TypeError(f"path must be None, a folder or a hub id (str), got {type(path).__name__}")
    local = Path(source).is_dir()
    if isinstance(path, Path) and not local:
        raise FileNotFoundError(f"{path} is not a folder")
    with quiet_hf():
        unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet")
        text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder")
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
        noise_scheduler = DDPMScheduler.from_pretrained(source, subfolder="scheduler")
        if local and not (Path(source) / "vae").is_dir():
            vae = _cached_vae_class()()
        else:
            vae = AutoencoderKL.from_pretrained(source, subfolder="vae")
    parts = T2IParts(unet.eval(), text_encoder.eval(), tokenizer, noise_scheduler, vae.eval())
    return parts.to(device if device is not None else get_device())


def save_parts(parts: T2IParts, folder: str | Path) -> Path:
    """Write ``parts`` with ``save_pretrained`` (safetensors) in the Stable Diffusion layout."""
    folder = Path(folder)
    with quiet_hf():
        parts.unet.save_pretrained(folder / "unet", safe_serialization=True)
        parts.text_encoder.save_pretrained(folder / "text_encoder", safe_serialization=True)
        # a call with padding= leaves its settings in the fast tokenizer's backend, which
        # save_pretrained would write: the file must depend on the vocabulary alone
        backend = parts.tokenizer.backend_tokenizer
        backend.no_padding()
        backend.no_truncation()
        parts.tokenizer.save_pretrained(folder / "tokenizer")
        parts.noise_scheduler.save_pretrained(folder / "scheduler")
    return folder
