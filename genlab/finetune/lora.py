"""LoRA by hand: a frozen linear layer plus a trainable low-rank update (chapter 07, section 5).

Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models". A pretrained weight
``W`` of shape ``(out, in)`` stays frozen; the layer learns ``delta W = (alpha / r) B A``
with ``A`` of shape ``(r, in)`` and ``B`` of shape ``(out, r)``:

    y = x W^T + b + (alpha / r) * x A^T B^T

``B`` starts at zero, so the adapted model starts exactly as the pretrained one, and ``A``
is Kaiming-uniform with ``a = sqrt(5)`` (what ``nn.Linear`` and PEFT use). Dividing by ``r``
keeps the update's size roughly independent of the rank, so a learning rate tuned at one
rank works at another. After training, ``merged_weight()`` folds the update into ``W``:
inference then costs nothing extra. The library version is PEFT's ``LoraConfig``; the
tests check this module against it on the same ``A`` and ``B``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genlab._checks import check_int, check_positive


def lora_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 lora_A: torch.Tensor, lora_B: torch.Tensor, scaling: float) -> torch.Tensor:
    """``x W^T + b + scaling * x A^T B^T``: a linear layer plus its LoRA update.

    x: ``(..., in)``; weight: ``(out, in)``; bias: ``(out,)`` or None; lora_A: ``(r, in)``;
    lora_B: ``(out, r)``; scaling: ``alpha / r``. Returns ``(..., out)``. The low-rank path
    multiplies by ``A`` first: ``r (in + out)`` operations per row instead of ``in * out``.
    """
    out = x @ weight.T
    if bias is not None:
        out = out + bias
    return out + scaling * ((x @ lora_A.T) @ lora_B.T)


def merge_lora_weight(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor,
                      scaling: float) -> torch.Tensor:
    """``W + scaling * B A``, shape ``(out, in)``: one weight computing the same function."""
    return weight + scaling * (lora_B @ lora_A)


class LoRALinear(nn.Module):
    """``base`` (frozen) plus a rank-``r`` update scaled by ``alpha / r``.

    Args:
        base: the pretrained ``nn.Linear`` (its parameters get ``requires_grad=False``).
        r: rank of the update (PEFT's default 8).
        alpha: scale numerator, ``scaling = alpha / r`` (PEFT's ``lora_alpha``, default 8).

    Attributes: ``lora_A`` ``(r, in_features)``, ``lora_B`` ``(out_features, r)``,
    ``scaling`` (float). Input ``(..., in_features)``, output ``(..., out_features)``.
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 8.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be a torch.nn.Linear, got {type(base).__name__}")
        check_int("r", r, minimum=1)
        check_positive("alpha", alpha)
        self.base = base
        self.base.requires_grad_(False)
        self.r = r
        self.alpha = float(alpha)
        self.scaling = self.alpha / r
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=weight.dtype,
                                               device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=weight.dtype,
                                               device=weight.device))
        # PEFT's init: A like nn.Linear's weight, B = 0, so the update starts at zero.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.base.in_features:
            raise ValueError(
                f"x must end in {self.base.in_features} features, got shape {tuple(x.shape)}"
            )
        return lora_forward(x, self.base.weight, self.base.bias, self.lora_A, self.lora_B,
                            self.scaling)

    def delta_weight(self) -> torch.Tensor:
        """The learned update ``scaling * B @ A``, shape ``(out_features, in_features)``."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def merged_weight(self) -> torch.Tensor:
        """``W + scaling * B @ A``: the weight of an ``nn.Linear`` equal to this layer."""
        return merge_lora_weight(self.base.weight, self.lora_A, self.lora_B, self.scaling)

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` (detached copy) computing the same function."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                        dtype=self.base.weight.dtype, device=self.base.weight.device)
        with torch.no_grad():
            out.weight.copy_(self.merged_weight())
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha:g}, scaling={self.scaling:g}"


def _matches(name: str, targets) -> bool:
    # PEFT's rule for a list of names: the module's full name equals a target or ends
    # with "." + target ("q_proj" matches "model.layers.0.self_attn.q_proj").
    return any(name == t or name.endswith("." + t) for t in targets)


def add_lora(model: nn.Module, target_modules, r: int = 8, alpha: float = 8.0) -> nn.Module:
    """Swap the named ``nn.Linear`` layers of ``model`` for :class:`LoRALinear`, in place.

    ``target_modules``: names matched as PEFT does (``["q_proj", "v_proj"]`` matches every
    module whose dotted name ends in one of them). Every parameter outside the LoRA
    matrices is frozen. Returns ``model``. Raises ``ValueError`` if nothing matched and
    ``TypeError`` if a matched module is not an ``nn.Linear``.
    """
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    targets = list(target_modules)
    if not targets:
        raise ValueError("target_modules must name at least one module")
    model.requires_grad_(False)
    matched = [(name, module) for name, module in model.named_modules()
               if name and _matches(name, targets) and not isinstance(module, LoRALinear)]
    if not matched:
        raise ValueError(f"no module of the model matches target_modules={targets}")
    for name, module in matched:
        if not isinstance(module, nn.Linear):
            raise TypeError(f"{name} is a {type(module).__name__}; LoRALinear wraps nn.Linear")
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r=r, alpha=alpha))
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` in ``model`` by its merged ``nn.Linear``, in place."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.merged())
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the LoRA matrices (``...lora_A``, ``...lora_B``): what a LoRA checkpoint holds."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()
            if k.endswith(("lora_A", "lora_B"))}
