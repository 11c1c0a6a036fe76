"""Steer with no VAE: the identity map in the encoder's place (a control for the method).

``LatentGuidance`` with this encoder computes J = ||a_k - a0||^2 over the target's action
slots instead of a latent distance, so g points from the noisy chunk straight back to the
clean one in action space. Everything else (batch scaling, clamp and its order, sign, masks,
the shift diagnostic, ``auto_fraction``) is Steer's, which makes it the control that asks
whether a VAE is needed at all for what Steer does. Select it with the ``guidance_from``
value ``ACTION_SPACE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# the ``guidance_from`` value that selects this encoder instead of a stage-2 folder
ACTION_SPACE = "action-space"


@dataclass(frozen=True)
class ActionSpaceConfig:
    """The two fields ``PolicyChunkEncoder`` reads from an encoder's config.

    Attributes:
        action_dim: D, the target's action dims.
        max_chunk_length: the longest chunk taken whole (longer ones are cropped); large by
            default so that a policy chunk is never cut.
    """

    action_dim: int
    max_chunk_length: int = 1 << 20


class ActionSpaceEncoder(nn.Module):
    """``encode(chunks, steps)`` -> (the chunk itself, flattened, zero at padded steps;
    zeros as the log-variance), in the place of an ``ActionVAE``.

    With Steer's shared reparameterisation noise and equal (zero) log-variances, the sampled
    "latents" differ exactly as the chunks do, so ``latent="sample"`` and ``"mean"`` agree.
    """

    def __init__(self, action_dim: int) -> None:
        super().__init__()
        self.config = ActionSpaceConfig(action_dim)
        # no weights; an empty parameter is where LatentGuidance reads device and dtype
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)

    def encode(self, chunks: torch.Tensor, steps: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, D) chunks and (B, L) real steps -> ``(mu, logvar)``, each (B, L * D)."""
        if steps is not None:
            chunks = chunks * steps.unsqueeze(-1).to(chunks)
        mu = chunks.flatten(1)
        return mu, torch.zeros_like(mu)
