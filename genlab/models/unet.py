"""A small U-Net for the 8x8 digits: time embedding and an optional class label.

Two resolutions (8x8 and 4x4), residual blocks that add the time (and label) embedding,
one self-attention layer at the bottom, skip connections between the halves (Ho et al.
2020's design, shrunk). About 0.4 M parameters at ``base_channels=32``; it trains on a
CPU in seconds.

Labels: with ``num_classes=10`` the embedding table has 11 rows; row ``num_classes``
(``model.null_label``) means "no label". Training with some labels replaced by it gives
one network that is both conditional and unconditional, which is what
classifier-free guidance needs (Ho & Salimans 2022).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from genlab._checks import check_int, check_tensor


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps ``t`` (batch,) -> ``(batch, dim)`` (Vaswani et al. 2017)."""
    check_int("dim", dim, minimum=2)
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the embedding added in between; 1x1 skip if needed."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(min(groups, out_ch), out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: stable early training
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)  # (b, h*w, c)
        out, _ = self.attn(seq, seq, seq, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class SmallUNet(nn.Module):
    """U-Net predicting noise, velocity or x0 for ``(batch, in_channels, H, W)`` images.

    Args:
        in_channels: image channels (1 for the digits).
        base_channels: width at full resolution; the 4x4 level has twice as many.
        num_classes: number of labels for conditioning, or ``None`` for an unconditional
            net. Label ``num_classes`` is the "no label" index (``self.null_label``).
        learned_variance: if True the output has ``2 * in_channels`` channels: the
            prediction, then the variance interpolation of Improved DDPM.
        groups: GroupNorm groups.

    ``forward(x, t, labels=None)``: x ``(batch, C, H, W)`` with even H and W; t
    ``(batch,)`` timesteps (int or float); labels ``(batch,)`` int64 in
    [0, num_classes] or ``None`` (= all "no label"). Returns ``(batch, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32, num_classes: int | None = None,
                 learned_variance: bool = False, groups: int = 8, attention_heads: int = 4):
        super().__init__()
        check_int("in_channels", in_channels, minimum=1)
        check_int("base_channels", base_channels, minimum=groups)
        if num_classes is not None:
            check_int("num_classes", num_classes, minimum=1)
        ch, ch2 = base_channels, 2 * base_channels
        emb_dim = 4 * base_channels
        self.in_channels = in_channels
        self.out_channels = 2 * in_channels if learned_variance else in_channels
        self.learned_variance = learned_variance
        self.num_classes = num_classes
        self.base_channels = base_channels
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes is not None else None
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        self.down1 = ResBlock(ch, ch, emb_dim, groups)
        self.downsample = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
        self.down2 = ResBlock(ch, ch2, emb_dim, groups)
        self.mid1 = ResBlock(ch2, ch2, emb_dim, groups)
        self.mid_attn = SelfAttention(ch2, attention_heads, groups)
        self.mid2 = ResBlock(ch2, ch2, emb_dim, groups)
        self.up2 = ResBlock(2 * ch2, ch2, emb_dim, groups)
        self.upsample = nn.Conv2d(ch2, ch, 3, padding=1)
        self.up1 = ResBlock(2 * ch, ch, emb_dim, groups)
        self.norm_out = nn.GroupNorm(min(groups, ch), ch)
        self.conv_out = nn.Conv2d(ch, self.out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def null_label(self) -> int | None:
        """The label index meaning "no label" (``num_classes``), or None if unconditional."""
        return self.num_classes

    def _check_inputs(self, x, t, labels):
        check_tensor("x", x, ndim=4)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x must have {self.in_channels} channels, got shape {tuple(x.shape)}")
        if x.shape[2] % 2 or x.shape[3] % 2:
            raise ValueError(f"x must have even height and width, got shape {tuple(x.shape)}")
        check_tensor("t", t, ndim=1, floating=False)
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"t must hold integer timesteps (e.g. int64), got dtype {t.dtype}")
        if len(t) != len(x):
            raise ValueError(f"t has {len(t)} entries for a batch of {len(x)}")
        if labels is not None:
            if self.label_emb is None:
                raise ValueError("labels given to an unconditional SmallUNet (num_classes=None)")
            check_tensor("labels", labels, ndim=1, floating=False)
            if labels.dtype != torch.long or len(labels) != len(x):
                raise ValueError(f"labels must be int64 of shape ({len(x)},), got "
                                 f"{labels.dtype} {tuple(labels.shape)}")
            if len(labels) and (int(labels.min()) < 0 or int(labels.max()) > self.num_classes):
                raise ValueError(f"labels must lie in [0, {self.num_classes}] "
                                 f"({self.num_classes} = no label)")

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None):
        self._check_inputs(x, t, labels)
        emb = self.time_mlp(timestep_embedding(t, self.base_channels))
        if self.label_emb is not None:
            if labels is None:
                labels = torch.full((len(x),), self.num_classes, dtype=torch.long, device=x.device)
            emb = emb + self.label_emb(labels)
        h1 = self.down1(self.conv_in(x), emb)
        h2 = self.down2(self.downsample(h1), emb)
        m = self.mid2(self.mid_attn(self.mid1(h2, emb)), emb)
        u2 = self.up2(torch.cat([m, h2], dim=1), emb)
        u1 = self.upsample(F.interpolate(u2, scale_factor=2, mode="nearest"))
        u1 = self.up1(torch.cat([u1, h1], dim=1), emb)
        return self.conv_out(F.silu(self.norm_out(u1)))
