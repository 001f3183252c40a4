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

``python -m genlab.pretrained build digits-t2i`` retrains it (a few CPU minutes) into the
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

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from genlab._checks import check_int, check_tensor
from genlab.pretrained.digits_features import _deterministic_cpu

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
MIN_ACCURACY_W3 = 0.95


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
    from genlab.device import get_device

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
    from genlab.pretrained.digits_features import package_dir

    return package_dir() / FOLDER


def model_files(folder: str | Path) -> list[str]:
    """The files of a saved model, as sorted POSIX paths relative to ``folder``."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for sub in SUBFOLDERS
                  for p in (folder / sub).rglob("*") if p.is_file())


def verify(folder: str | Path | None = None, registry_folder: str | Path | None = None) -> Path:
    """Check every file of the model against the SHA-256s in the registry; return the folder.

    ``folder`` defaults to the shipped model and ``registry_folder`` to the folder above it
    (``genlab/pretrained``). Raises ``FileNotFoundError`` for a missing entry or file and
    ``ChecksumError`` for a changed, missing or extra file.
    """
    from genlab.pretrained.digits_features import ChecksumError, read_registry, sha256_of_file

    folder = Path(folder) if folder is not None else package_folder()
    registry_folder = Path(registry_folder) if registry_folder is not None else folder.parent
    rebuild = "Rebuild it with `python -m genlab.pretrained build digits-t2i`."
    entry = read_registry(registry_folder).get(NAME)
    if entry is None:
        raise FileNotFoundError(f"no {NAME!r} entry in {registry_folder / 'registry.json'}. {rebuild}")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing. {rebuild}")
    recorded = entry["files"]
    present = model_files(folder)
    if present != sorted(recorded):
        raise ChecksumError(f"{folder} holds files {present} but the registry records "
                            f"{sorted(recorded)}. {rebuild}")
    for name, digest in recorded.items():
        actual = sha256_of_file(folder / name)
        if actual != digest:
            raise ChecksumError(f"{folder / name} has SHA-256 {actual} but the registry records "
                                f"{digest}: the file is corrupted or was replaced. {rebuild}")
    return folder


def registry_entry() -> dict:
    """The shipped model's registry entry: files and hashes, accuracies, recipe, CPU seconds."""
    from genlab.pretrained.digits_features import read_registry

    entry = read_registry(package_folder().parent).get(NAME)
    if entry is None:
        raise FileNotFoundError("no digits-t2i entry in the registry; run "
                                "`python -m genlab.pretrained build digits-t2i`")
    return entry


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

    from genlab.device import get_device

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


# ---------------------------------------------------------------- training and building

def all_captions() -> list[str]:
    """Every pretraining caption (10 digits x 5 templates, digit-major), then ``""``."""
    return [caption(k, j) for k in range(10) for j in range(len(TEMPLATES))] + [""]


def train_digits_t2i(recipe: dict | None = None, steps: int | None = None,
                     on_step=None, verbose: bool = False) -> T2IParts:
    """Pretrain the text-to-image model from scratch by ``recipe`` (default :data:`RECIPE`).

    Epsilon-prediction MSE on the train split of the digits; each image gets the caption of
    its digit in a random template, replaced by ``""`` with probability
    ``caption_dropout``; UNet and text encoder train together with AdamW (linear warm-up,
    then constant, so the first k steps of a longer run are a k-step run) and gradient
    clipping; the returned model holds the EMA weights (torch ``AveragedModel``).
    ``steps`` overrides the recipe's (the determinism test runs a few). ``on_step(step,
    ema)`` is called after each update with the EMA ``ModuleDict`` (for evaluation
    curves). Runs on one CPU thread with deterministic algorithms; returns CPU float32
    parts in eval mode; ``parts.train_cpu_seconds`` records the loop's process time.
    """
    import torch.nn.functional as F
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from genlab.data import load_digits

    recipe = {**RECIPE, **(recipe or {})}
    steps = recipe["steps"] if steps is None else check_int("steps", steps, minimum=1)
    images, labels = load_digits("train")
    captions = all_captions()
    n_templates = len(TEMPLATES)
    with _deterministic_cpu():
        parts = random_digits_t2i(recipe["seed"])
        ids = parts.tokenizer(captions, padding="max_length", max_length=MAX_LENGTH,
                              return_tensors="pt").input_ids
        nets = torch.nn.ModuleDict({"unet": parts.unet, "text_encoder": parts.text_encoder}).train()
        ema = AveragedModel(nets, multi_avg_fn=get_ema_multi_avg_fn(recipe["ema_decay"]))
        optimizer = torch.optim.AdamW(nets.parameters(), lr=recipe["lr"])
        warmup = recipe["warmup_steps"]
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
        generator = torch.Generator().manual_seed(recipe["seed"])
        alphas_cumprod = parts.noise_scheduler.alphas_cumprod
        start = time.process_time()
        for step in range(steps):
            idx = torch.randint(0, len(images), (recipe["batch_size"],), generator=generator)
            template = torch.randint(0, n_templates, idx.shape, generator=generator)
            which = labels[idx] * n_templates + template
            dropped = torch.rand(idx.shape, generator=generator) < recipe["caption_dropout"]
            which = torch.where(dropped, len(captions) - 1, which)
            t = torch.randint(0, len(alphas_cumprod), idx.shape, generator=generator)
            noise = torch.randn((len(idx), 1, 8, 8), generator=generator)
            x_t = parts.noise_scheduler.add_noise(images[idx], noise, t)
            # Encode the 51 distinct captions once and pick rows: same values and
            # gradients as encoding the batch's captions one by one, fewer FLOPs.
            embeddings = parts.text_encoder(ids)[0][which]
            loss = F.mse_loss(parts.unet(x_t, t, encoder_hidden_states=embeddings).sample, noise)
            if not torch.isfinite(loss):
                raise RuntimeError(f"the loss became {loss.item()} at step {step}; lower the lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(nets.parameters(), recipe["max_grad_norm"])
            optimizer.step()
            schedule.step()
            ema.update_parameters(nets)
            if verbose and (step + 1) % 100 == 0:
                print(f"step {step + 1}/{steps}: loss {loss.item():.4f} "
                      f"({time.process_time() - start:.0f} CPU s)", flush=True)
            if on_step is not None:
                on_step(step + 1, ema.module)
        seconds = time.process_time() - start
        nets.load_state_dict(ema.module.state_dict())
    parts.unet.eval()
    parts.text_encoder.eval()
    parts.train_cpu_seconds = seconds
    return parts


def prompt_accuracies(parts: T2IParts, scales=(1.0, 3.0), n_per_class: int = 20,
                      seed: int = 0) -> dict[float, float]:
    """``{w: accuracy}``: the digits classifier's accuracy on ``n_per_class`` samples of
    "a handwritten digit k" per digit, DDIM 20 steps, eta 0, at each guidance scale."""
    from genlab.finetune.guidance import guidance_sweep

    rows = guidance_sweep(parts, scales, n_per_class, seed)
    return {row["guidance_scale"]: row["accuracy"] for row in rows}


def build(folder: str | Path | None = None, verbose: bool = True, steps: int | None = None,
          check: bool = True) -> Path:
    """Train, check the prompts work, save in ``folder/digits-t2i`` and record the hashes.

    ``folder`` defaults to the installed package (``genlab/pretrained``, what ``python -m
    genlab.pretrained build digits-t2i`` rewrites); tests pass a temporary folder and a
    few ``steps`` with ``check=False``. Raises ``RuntimeError`` when the classifier reads
    fewer than :data:`MIN_ACCURACY_W3` of the samples at guidance 3 as the prompted digit.
    Only this model's key of ``registry.json`` is rewritten.
    """
    import shutil

    from genlab.pretrained.digits_features import read_registry, sha256_of_file

    folder = Path(folder) if folder is not None else package_folder().parent
    parts = train_digits_t2i(steps=steps, verbose=verbose)
    accuracies = {}
    if check:
        accuracies = prompt_accuracies(parts)
        if accuracies[3.0] < MIN_ACCURACY_W3:
            raise RuntimeError(
                f"at guidance 3 the classifier reads {accuracies[3.0]:.3f} of the samples as the "
                f"prompted digit, below the required {MIN_ACCURACY_W3}; the recipe needs changing")
    target = folder / FOLDER
    if target.exists():
        shutil.rmtree(target)
    save_parts(parts, target)
    files = {name: sha256_of_file(target / name) for name in model_files(target)}
    registry = read_registry(folder)
    registry[NAME] = {
        "file": FOLDER,
        "files": files,
        "bytes": sum((target / name).stat().st_size for name in files),
        "accuracy_w1": accuracies.get(1.0),
        "accuracy_w3": accuracies.get(3.0),
        "accuracy_eval": "200 samples of 'a handwritten digit k' (20 per digit), DDIM 20 steps, "
                         "eta 0, clip_sample=False, seed 0",
        "train_cpu_seconds": round(parts.train_cpu_seconds, 1),
        "recipe": {**RECIPE, **({"steps": steps} if steps is not None else {})},
        "rebuild": "python -m genlab.pretrained build digits-t2i",
    }
    (folder / "registry.json").write_text(json.dumps(registry, indent=2) + "\n", encoding="utf-8")
    if verbose:
        print(f"wrote {target} ({registry[NAME]['bytes']:,} bytes in {len(files)} files), "
              f"accuracy w=1 {accuracies.get(1.0)}, w=3 {accuracies.get(3.0)}, "
              f"training {parts.train_cpu_seconds:.0f} CPU s")
    return target
