"""Layer freezing and gradual unfreezing (chapter 07, section 4).

Freezing a parameter (``requires_grad=False``) removes it from the optimizer's work and,
when everything below a layer is frozen, removes the backward pass below that layer too:
the one place where fine-tuning fewer parameters also saves compute on a CPU.

Gradual unfreezing is ULMFiT's recipe (Howard and Ruder 2018, "Universal Language Model
Fine-tuning for Text Classification"): train the top layer group first, then unfreeze one
more group, top down, every ``k`` steps, so the lower (more general) layers are disturbed
last and least. ULMFiT pairs it with *discriminative learning rates*: each group one level
lower gets the learning rate divided by 2.6.

Groups of a transformer (:func:`layer_groups`, top first): the last block together with the
final norm, then each block below it, then the input embeddings.
"""

from __future__ import annotations

from torch import nn

from genlab._checks import check_int, check_positive
from genlab.finetune.loop import Callback

ULMFIT_LR_FACTOR = 2.6  # Howard and Ruder 2018, section 3.2


def trainable_parameters(model: nn.Module) -> int:
    """Number of scalars in the parameters of ``model`` with ``requires_grad=True``.

    Shared (tied) parameters count once, as ``model.parameters()`` lists them once.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freeze_all_but(model: nn.Module, prefixes) -> int:
    """Freeze every parameter whose name does not start with one of ``prefixes``, in place.

    ``prefixes``: a string or a list of strings such as ``["model.layers.3.", "model.norm."]``
    (names as ``model.named_parameters()`` gives them). Parameters that match are made
    trainable. Returns :func:`trainable_parameters` afterwards. Raises ``ValueError`` if a
    prefix matches no parameter (usually a typo that would silently freeze everything).
    """
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    prefixes = tuple(prefixes)
    names = [name for name, _ in model.named_parameters()]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ValueError(
                f"prefix {prefix!r} matches no parameter; names look like {names[:3]}"
            )
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith(prefixes))
    return trainable_parameters(model)


def transformer_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The stack of transformer blocks: ``(name, module_list)``, e.g. ``("model.layers", ...)``.

    Found as the ``nn.ModuleList`` holding the most parameters (``model.layers`` in Llama,
    ``transformer.h`` in GPT-2, the same inside a PEFT wrapper).
    """
    best, best_size = None, -1
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            size = sum(p.numel() for p in module.parameters())
            if size > best_size:
                best, best_size = (name, module), size
    if best is None:
        raise ValueError(f"{type(model).__name__} has no nn.ModuleList of blocks")
    return best


def layer_groups(model: nn.Module) -> list[list[str]]:
    """Parameter names in ULMFiT groups, **top first**.

    Group 0: the last block plus every parameter outside the blocks that is not the input
    embedding (the final norm; an untied output head). Then one group per block, downwards.
    Last: the input embeddings (tied output embeddings are the same tensor).
    """
    blocks_name, blocks = transformer_blocks(model)
    embedding = model.get_input_embeddings().weight if hasattr(model, "get_input_embeddings") else None
    per_block: list[list[str]] = [[] for _ in blocks]
    top_extra, bottom = [], []
    for name, param in model.named_parameters():
        if name.startswith(blocks_name + "."):
            index = int(name[len(blocks_name) + 1:].split(".", 1)[0])
            per_block[index].append(name)
        elif embedding is not None and param is embedding:
            bottom.append(name)
        else:
            top_extra.append(name)
    groups = [per_block[-1] + top_extra] + [per_block[i] for i in range(len(blocks) - 2, -1, -1)]
    if bottom:
        groups.append(bottom)
    return groups


def unfrozen_groups(step: int, num_groups: int, every: int) -> int:
    """How many groups (top first) train during the update after ``step`` updates.

    ``1 + step // every``, capped at ``num_groups``: the top group from the start, one
    more every ``every`` updates.
    """
    check_int("step", step, minimum=0)
    check_int("num_groups", num_groups, minimum=1)
    check_int("every", every, minimum=1)
    return min(num_groups, 1 + step // every)


def discriminative_param_groups(model: nn.Module, groups: list[list[str]], lr: float,
                                factor: float = ULMFIT_LR_FACTOR) -> list[dict]:
    """Optimizer param groups, group ``i`` (top first) at ``lr / factor**i`` (ULMFiT: 2.6).

    Pass the result as ``params=`` to the fine-tuning loop (with every group's
    parameters, frozen or not: the unfreezing callback toggles ``requires_grad``).
    """
    check_positive("lr", lr)
    check_positive("factor", factor)
    named = dict(model.named_parameters())
    return [{"params": [named[n] for n in names], "lr": lr / factor ** depth}
            for depth, names in enumerate(groups)]


class GradualUnfreezing(Callback):
    """A fine-tuning-loop callback: group 0 trains first, one more group every ``every`` updates.

    ``GradualUnfreezing(model, groups=layer_groups(model), every=20)``. Freezes the model
    below the first group when training begins and after each update sets
    ``requires_grad`` from :func:`unfrozen_groups`. ``history`` gets ``unfrozen_groups``.
    """

    def __init__(self, model: nn.Module, groups: list[list[str]] | None = None, every: int = 20):
        check_int("every", every, minimum=1)
        self.groups = groups if groups is not None else layer_groups(model)
        if not self.groups:
            raise ValueError("groups must hold at least one group of parameter names")
        self.every = every
        self._named = dict(model.named_parameters())
        missing = [n for g in self.groups for n in g if n not in self._named]
        if missing:
            raise ValueError(f"groups name parameters the model does not have: {missing[:3]}")

    def apply(self, step: int) -> int:
        """Set ``requires_grad`` for the update after ``step`` updates; returns the group count."""
        k = unfrozen_groups(step, len(self.groups), self.every)
        live = {n for g in self.groups[:k] for n in g}
        for name, param in self._named.items():
            param.requires_grad_(name in live)
        return k

    def on_train_begin(self, state) -> dict:
        return {"unfrozen_groups": float(self.apply(state.step))}

    def on_step_end(self, state) -> dict:
        return {"unfrozen_groups": float(self.apply(state.step))}
