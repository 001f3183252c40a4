"""Bottleneck adapters by hand (chapter 07, section 6).

Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP": a small residual
module inserted into every transformer block while the pretrained weights stay frozen,

    adapter(h) = h + W_up act(W_down h),   W_down: dim -> bottleneck,  W_up: bottleneck -> dim.

``W_up`` (weight and bias) starts at zero, so an inserted adapter is exactly the identity
and the adapted model starts as the pretrained one. Houlsby place one adapter after the
attention and one after the feed-forward sublayer; Pfeiffer et al. 2021 showed that the one
after the feed-forward sublayer alone does about as well, and that is what
:func:`add_adapters` inserts: the block's MLP output goes through the adapter before the
residual addition. Each adapter adds ``2 * dim * bottleneck + bottleneck + dim``
parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from genlab._checks import check_int
from genlab.finetune.freeze import transformer_blocks


class BottleneckAdapter(nn.Module):
    """``h + up(act(down(h)))`` with ``up`` zero-initialized (identity at init).

    Args: ``dim`` (feature size of ``h``), ``bottleneck`` (hidden size), ``activation``
    (a module; default GELU). Input and output ``(..., dim)``.
    """

    def __init__(self, dim: int, bottleneck: int, activation: nn.Module | None = None):
        super().__init__()
        check_int("dim", dim, minimum=1)
        check_int("bottleneck", bottleneck, minimum=1)
        self.dim, self.bottleneck = dim, bottleneck
        self.down = nn.Linear(dim, bottleneck)
        self.act = activation if activation is not None else nn.GELU()
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.shape[-1] != self.dim:
            raise ValueError(f"h must end in {self.dim} features, got shape {tuple(h.shape)}")
        return h + self.up(self.act(self.down(h)))


class WithAdapter(nn.Module):
    """``adapter(inner(x))``: a sublayer (e.g. a block's MLP) followed by its adapter."""

    def __init__(self, inner: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.inner = inner
        self.adapter = adapter

    def forward(self, *args, **kwargs):
        return self.adapter(self.inner(*args, **kwargs))


def add_adapters(model: nn.Module, bottleneck: int = 16, mlp_name: str = "mlp",
                 train_norms: bool = False) -> nn.Module:
    """Insert a :class:`BottleneckAdapter` after the MLP of every transformer block, in place.

    The blocks are found by :func:`genlab.finetune.freeze.transformer_blocks`; each block's
    child ``mlp_name`` (``"mlp"`` in Llama and GPT-2) is wrapped in :class:`WithAdapter`.
    Everything but the adapters is frozen (``train_norms=True`` also trains the layer
    norms, as Houlsby et al. do). Adapters get the model's dtype and device. Returns
    ``model``.
    """
    check_int("bottleneck", bottleneck, minimum=1)
    _, blocks = transformer_blocks(model)
    model.requires_grad_(False)
    reference = next(model.parameters())
    for index, block in enumerate(blocks):
        mlp = getattr(block, mlp_name, None)
        if mlp is None:
            raise ValueError(f"block {index} ({type(block).__name__}) has no child {mlp_name!r}")
        if isinstance(mlp, WithAdapter):
            raise ValueError(f"block {index} already has an adapter")
        dim = model.config.hidden_size if hasattr(model, "config") else _output_dim(mlp)
        adapter = BottleneckAdapter(dim, bottleneck).to(reference.dtype).to(reference.device)
        setattr(block, mlp_name, WithAdapter(mlp, adapter))
    if train_norms:
        for name, param in model.named_parameters():
            owner = name.rsplit(".", 1)[0].rsplit(".", 1)[-1]  # "input_layernorm", "ln_1"
            if "norm" in owner or owner.startswith("ln_"):
                param.requires_grad_(True)
    return model


def _output_dim(module: nn.Module) -> int:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("cannot tell the MLP's output size; give a model with .config")
    return linears[-1].out_features


def remove_adapters(model: nn.Module, mlp_name: str = "mlp") -> nn.Module:
    """Undo :func:`add_adapters`: put every block's original MLP back (in place)."""
    _, blocks = transformer_blocks(model)
    for block in blocks:
        mlp = getattr(block, mlp_name, None)
        if isinstance(mlp, WithAdapter):
            setattr(block, mlp_name, mlp.inner)
    return model


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapters' tensors: what an adapter checkpoint holds."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items() if ".adapter." in k}
