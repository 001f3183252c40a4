"""Causal language models: L2-SP and the ``lm`` fine-tuning recipe (the loss and perplexity
live in :mod:`genlab.losses.lm`; this module re-exports them for chapter 07).

One recipe for every method of chapter 07, used by the chapter, the benchmark and
``python -m genlab.finetune lm``:

=========  ==============================================================================
method     what trains
=========  ==============================================================================
full       every weight
freeze     the top block and the final norm (:func:`genlab.finetune.freeze.freeze_all_but`)
gradual    ULMFiT gradual unfreezing, top block first (:class:`~genlab.finetune.freeze.GradualUnfreezing`)
lora       PEFT ``LoraConfig`` on the attention's query and value projections (Hu et al. 2021)
adapter    a bottleneck adapter after every block's MLP (Houlsby et al. 2019, by hand)
prompt     PEFT ``PromptTuningConfig``: virtual tokens prepended to the input (Lester et al. 2021)
ptuning    PEFT ``PromptEncoderConfig``: virtual tokens from a small MLP (Liu et al. 2021)
prefix     PEFT ``PrefixTuningConfig``: learned keys and values in every layer (Li and Liang 2021)
=========  ==============================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader

from genlab._checks import check_choice, check_int, check_positive
from genlab.data import text
from genlab.finetune import adapters, freeze
from genlab.finetune.freeze import layer_groups, trainable_parameters
from genlab.finetune.loop import TrainConfig, every, finetune
# causal_lm_loss and perplexity live in genlab.losses.lm; chapter 07 calls them as lm.*
from genlab.losses.lm import _input_ids, causal_lm_loss, perplexity  # noqa: F401
from genlab.pretrained import tiny_lm

METHODS = ("full", "freeze", "gradual", "lora", "adapter", "prompt", "ptuning", "prefix")
PEFT_METHODS = ("lora", "prompt", "ptuning", "prefix")
# Learning rates measured on the shipped tiny model (benchmarks/finetune.py): PEFT
# methods need larger steps than full fine-tuning because they move far fewer numbers.
DEFAULT_LR = {"full": 2e-3, "freeze": 2e-3, "gradual": 2e-3, "lora": 5e-3, "adapter": 5e-3,
              "prompt": 3e-2, "ptuning": 1e-2, "prefix": 1e-2}
LORA_TARGETS = ["q_proj", "v_proj"]  # Hu et al. 2021, section 7.1: W_q and W_v


def l2_sp_penalty(model: nn.Module, reference: dict[str, torch.Tensor],
                  strength: float) -> torch.Tensor:
    """L2-SP (Li et al. 2018): ``strength / 2 * sum ||w - w_pretrained||^2`` over trainable weights.

    ``reference``: ``{name: tensor}`` of the pretrained values (e.g. a detached copy of the
    state dict before fine-tuning). Plain weight decay pulls the weights to 0, which
    erases what pretraining learned; L2-SP pulls them back to the starting point.
    """
    check_positive("strength", strength, allow_zero=True)
    terms = [((p - reference[name].to(p.device)) ** 2).sum()
             for name, p in _unwrap(model).named_parameters() if p.requires_grad]
    if not terms:
        return torch.zeros(())
    return 0.5 * strength * torch.stack(terms).sum()


def l2_sp_loss(reference: dict[str, torch.Tensor], strength: float):
    """A loss function for the loop: :func:`causal_lm_loss` plus :func:`l2_sp_penalty`.

    Logs the two parts apart (``lm_loss``, ``l2_sp``).
    """
    reference = {k: v.detach().clone() for k, v in reference.items()}

    def loss_fn(model, batch):
        lm = causal_lm_loss(model, batch)
        penalty = l2_sp_penalty(model, reference, strength).to(lm.device)
        return {"loss": lm + penalty, "lm_loss": lm.detach(), "l2_sp": penalty.detach()}

    return loss_fn


def _unwrap(model: nn.Module) -> nn.Module:
    # A DistributedDataParallel wrapper (the loop under several processes) adds "module."
    return model.module if hasattr(model, "module") and isinstance(
        getattr(model, "module"), nn.Module) else model


def training_loader(blocks: torch.Tensor, batch_size: int, steps: int, seed: int = 0,
                    num_processes: int | None = None):
    """A ``DataLoader`` giving ``steps`` batches of ``batch_size`` blocks in total (global).

    The order is fixed in advance (seeded permutations, epoch after epoch) and the loader
    does not shuffle, so one process with batch ``B`` and ``k`` processes with ``B / k``
    each (Accelerate gives process ``i`` every ``k``-th batch... of size ``B / k``) see the
    same blocks in every update. ``num_processes`` defaults to ``$WORLD_SIZE`` (set by
    ``torchrun`` and ``accelerate launch``) or 1.
    """
    ids = _input_ids(blocks)
    check_int("batch_size", batch_size, minimum=1)
    check_int("steps", steps, minimum=1)
    procs = num_processes or int(os.environ.get("WORLD_SIZE", "1"))
    if batch_size % procs:
        raise ValueError(f"batch_size ({batch_size}) must be divisible by the number of "
                         f"processes ({procs})")
    generator = torch.Generator().manual_seed(seed)
    needed = steps * batch_size
    order = torch.cat([torch.randperm(len(ids), generator=generator)
                       for _ in range(needed // len(ids) + 1)])[:needed]
    return DataLoader(ids[order], batch_size=batch_size // procs, shuffle=False,
                      drop_last=True)


# --------------------------------------------------------------------------------------
# The recipe


@dataclass
class Prepared:
    """A model ready for the loop: what to train (``params``) and the ``callbacks`` it needs."""

    model: nn.Module
    method: str
    params: list | None = None
    callbacks: list = field(default_factory=list)


def prepare(model: nn.Module, method: str, *, r: int = 8, lora_alpha: float = 16.0,
            target_modules=None, bottleneck: int = 16, num_virtual_tokens: int = 10,
            encoder_hidden_size: int = 64, unfreeze_every: int = 20,
            discriminative: bool = False, lr: float | None = None) -> Prepared:
    """Set ``model`` up for ``method`` (one of :data:`METHODS`); returns a :class:`Prepared`.

    PEFT methods wrap the model (``Prepared.model`` is the ``PeftModel``); the others
    modify it in place. ``unfreeze_every`` (gradual only): updates between two groups;
    :func:`run_lm` spreads the groups evenly over the run. ``discriminative`` (gradual
    only) divides the learning rate ``lr`` by 2.6 per group downwards (ULMFiT).
    """
    check_choice("method", method, METHODS)
    if method == "full":
        model.requires_grad_(True)
        return Prepared(model, method)
    if method == "freeze":
        groups = freeze.layer_groups(model)
        freeze.freeze_all_but(model, groups[0])
        return Prepared(model, method)
    if method == "gradual":
        model.requires_grad_(True)
        groups = freeze.layer_groups(model)
        schedule = freeze.GradualUnfreezing(model, groups, every=unfreeze_every)
        schedule.apply(0)
        if discriminative:
            params = freeze.discriminative_param_groups(model, groups, lr or DEFAULT_LR[method])
        else:
            params = [p for g in groups for p in (dict(model.named_parameters())[n] for n in g)]
        return Prepared(model, method, params=params, callbacks=[schedule])
    if method == "adapter":
        adapters.add_adapters(model, bottleneck=bottleneck)
        return Prepared(model, method)

    import peft

    task = peft.TaskType.CAUSAL_LM
    if method == "lora":
        config = peft.LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=0.0, task_type=task,
                                 target_modules=list(target_modules or LORA_TARGETS))
    elif method == "prompt":
        config = peft.PromptTuningConfig(task_type=task, num_virtual_tokens=num_virtual_tokens)
    elif method == "ptuning":
        config = peft.PromptEncoderConfig(task_type=task, num_virtual_tokens=num_virtual_tokens,
                                          encoder_hidden_size=encoder_hidden_size)
    else:
        config = peft.PrefixTuningConfig(task_type=task, num_virtual_tokens=num_virtual_tokens)
    return Prepared(peft.get_peft_model(model, config), method)


def save_trained(prepared: Prepared, folder: str | Path) -> int:
    """Save what the method trained to ``folder``; returns the checkpoint's bytes.

    PEFT methods: ``save_pretrained`` (the adapter only). Adapters: their tensors only.
    Full fine-tuning and gradual unfreezing (which ends with everything trainable): the
    whole model. Freezing: the trainable tensors only (the rest equals the pretrained
    model). All as safetensors.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = prepared.model
    if prepared.method in PEFT_METHODS:
        model.save_pretrained(folder)
    elif prepared.method == "adapter":
        save_file(adapters.adapter_state_dict(model), str(folder / "adapters.safetensors"))
    elif prepared.method == "freeze":
        tensors = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters()
                   if p.requires_grad}
        save_file(tensors, str(folder / "trained.safetensors"))
    else:
        model.save_pretrained(folder)
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def load_model(model: str | Path, dtype: torch.dtype | None = None):
    """``(model, tokenizer)`` from a local folder or a hub id via ``from_pretrained``.

    The shipped tiny model is hash-checked first when ``model`` is its folder or its
    registry name (``"tiny-llama-general"``).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = str(model)
    if path == tiny_lm.NAME or (Path(path).is_dir()
                                and Path(path).resolve() == tiny_lm.model_dir().resolve()):
        path = str(tiny_lm.verify())
    tokenizer = AutoTokenizer.from_pretrained(path)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    return AutoModelForCausalLM.from_pretrained(path, **kwargs), tokenizer


def run_lm(method: str, model: str | Path | None = None, *, steps: int = 100,
           batch_size: int = 16, lr: float | None = None, seed: int = 0,
           warmup_steps: int = 10, eval_blocks: int | None = None, eval_every: int | None = None,
           out: str | Path | None = None, cpu: bool = False, mixed_precision: str = "no",
           grad_accum_steps: int = 1, progress: bool | None = None,
           **method_options) -> dict:
    """Fine-tune ``model`` (default: the shipped tiny Llama) on the legal corpus by ``method``.

    Linear warm-up then linear decay (``TrainConfig(schedule="linear")``), AdamW, global
    batch ``batch_size`` blocks of 32 tokens. Returns a dict: ``method``, ``history``
    (the loop's History), ``prepared``, ``domain_ppl`` and ``general_ppl`` (test splits;
    the first ``eval_blocks`` blocks of each if given), ``trainable_parameters``,
    ``cpu_seconds`` (training only), ``num_processes``, and ``checkpoint_bytes`` when
    ``out`` is given (where the trained part is saved).
    """
    check_choice("method", method, METHODS)
    torch.manual_seed(seed)  # adapters' and prompts' initial values
    lm, tokenizer = load_model(model or tiny_lm.model_dir())
    domain_train = text.pack_blocks(text.load_corpus("legal", "train"), tokenizer)
    domain_test = text.pack_blocks(text.load_corpus("legal", "test"), tokenizer)
    general_test = text.pack_blocks(text.load_corpus("general", "test"), tokenizer)
    if eval_blocks is not None:
        domain_test, general_test = domain_test[:eval_blocks], general_test[:eval_blocks]
    lr = lr or DEFAULT_LR[method]
    if method == "gradual":  # every group, embeddings included, trains before the end

        method_options.setdefault("unfreeze_every", max(1, steps // len(layer_groups(lm))))
    prepared = prepare(lm, method, lr=lr, **method_options)
    config = TrainConfig(steps=steps, lr=lr, warmup_steps=min(warmup_steps, steps - 1),
                         schedule="linear", seed=seed, cpu=cpu, mixed_precision=mixed_precision,
                         grad_accum_steps=grad_accum_steps, progress=progress)

    def evaluate(m):
        return {"domain_ppl": perplexity(m, domain_test), "general_ppl": perplexity(m, general_test)}

    callbacks = list(prepared.callbacks)
    if eval_every:
        callbacks.append(every(eval_every, evaluate))
    loader = training_loader(domain_train, batch_size, steps * grad_accum_steps, seed)
    history = finetune(prepared.model, causal_lm_loss, loader, config, params=prepared.params,
                       callbacks=callbacks)
    result = {
        "method": method,
        "history": history,
        "prepared": prepared,
        "trainable_parameters": trainable_parameters(prepared.model),
        "cpu_seconds": history.meta["cpu_seconds"],
        "num_processes": history.meta["num_processes"],
        **evaluate(prepared.model),
    }
    if out is not None:
        result["checkpoint_bytes"] = save_trained(prepared, out)
    return result
