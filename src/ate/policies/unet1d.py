"""Diffusion Policy's conditional 1-D temporal U-Net (FiLM conditioning), for action chunks.

Residual conv blocks (Conv1d, GroupNorm, Mish) whose features are scaled and shifted by a
FiLM projection of [sinusoidal timestep embedding ; global condition]; down-sampling by
strided convs, up-sampling by transposed convs, skips between matching resolutions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn


class SinusoidalEmbedding(nn.Module):
    """(B,) timesteps -> (B, dim) sinusoidal features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device) / (half - 1))
        args = t.float()[:, None] * freqs[None]
        return torch.cat([args.sin(), args.cos()], dim=-1)


def conv_block(cin: int, cout: int, kernel: int, groups: int) -> nn.Sequential:
    """Conv1d (length kept) -> GroupNorm -> Mish, as Diffusion Policy's ``Conv1dBlock``."""
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, padding=kernel // 2),
                         nn.GroupNorm(groups, cout), nn.Mish())


class FiLMResBlock(nn.Module):
    """Two conv blocks; the condition scales and shifts the first one's output."""

    def __init__(self, cin: int, cout: int, cond_dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.first = conv_block(cin, cout, kernel, groups)
        self.second = conv_block(cout, cout, kernel, groups)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * cout))
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[..., None].chunk(2, dim=1)
        h = self.first(x) * scale + shift
        return self.second(h) + self.skip(x)


class ConditionalUnet1D(nn.Module):
    """Noise / velocity network over action chunks.

    Args:
        action_dim: U, channels of the chunk.
        cond_dim: size of the global condition (observation and task features); 0 = none.
        time_dim: size of the timestep embedding.
        down_dims: channels per resolution (Diffusion Policy: 256, 512, 1024).
        kernel: conv kernel size.
        groups: GroupNorm groups.

    ``forward(x (B, H, U), t (B,), cond (B, cond_dim)) -> (B, H, U)``; H must be divisible
    by 2 ** (len(down_dims) - 1).
    """

    def __init__(self, action_dim: int, cond_dim: int = 0, time_dim: int = 128,
                 down_dims: Sequence[int] = (128, 256, 512), kernel: int = 5,
                 groups: int = 8) -> None:
        super().__init__()
        self.time = nn.Sequential(SinusoidalEmbedding(time_dim), nn.Linear(time_dim,
                                  4 * time_dim), nn.Mish(), nn.Linear(4 * time_dim, time_dim))
        c = time_dim + cond_dim
        dims = [action_dim, *down_dims]
        self.down = nn.ModuleList()
        for i, (cin, cout) in enumerate(itertools.pairwise(dims)):
            last = i == len(down_dims) - 1
            self.down.append(nn.ModuleList([
                FiLMResBlock(cin, cout, c, kernel, groups),
                FiLMResBlock(cout, cout, c, kernel, groups),
                nn.Conv1d(cout, cout, 3, 2, 1) if not last else nn.Identity()]))
        mid = down_dims[-1]
        self.mid = nn.ModuleList([FiLMResBlock(mid, mid, c, kernel, groups) for _ in range(2)])
        self.up = nn.ModuleList()
        for cin, cout in zip(reversed(down_dims[1:]), reversed(down_dims[:-1]), strict=True):
            self.up.append(nn.ModuleList([
                FiLMResBlock(2 * cin, cout, c, kernel, groups),
                FiLMResBlock(cout, cout, c, kernel, groups),
                nn.ConvTranspose1d(cout, cout, 4, 2, 1)]))
        self.out = nn.Sequential(conv_block(down_dims[0], down_dims[0], kernel, groups),
                                 nn.Conv1d(down_dims[0], action_dim, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None
                ) -> torch.Tensor:
        c = self.time(t)
        if cond is not None:
            c = torch.cat([c, cond], dim=-1)
        h = x.transpose(1, 2)
        skips = []
        for first, second, down in self.down:
            h = second(first(h, c), c)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, c)
        for first, second, up in self.up:
            h = second(first(torch.cat([h, skips.pop()], dim=1), c), c)
            h = up(h)
        return self.out(h).transpose(1, 2)
