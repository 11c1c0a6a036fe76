"""``PolicyChunkEncoder``: a frozen stage-2 encoder read in the policy's action space.

A policy predicts (B, H, U) chunks in its own normalised units and slot layout; the stage-2
VAE was trained on the target's D dims in its own units, slot layout and chunk length. This
object maps one onto the other (slot selection, the affine map between the two normalisers,
crop or resampling in time) and encodes, with the graph through the chunks kept. The
encoder's weights never require grad, and it is not an ``nn.Module`` attribute of anything
that trains, so it never lands in an optimiser or a policy checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from ate.align.vae import ActionVAE
from ate.checkpoint import read_json, resolve_checkpoint
from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.errors import ConfigError

log = logging.getLogger(__name__)

LengthMode = Literal["crop", "resample"]


class PolicyChunkEncoder:
    """Encodes policy-space chunks with a frozen stage-2 ``ActionVAE``.

    Args:
        encoder: the trained VAE (set to eval and frozen here).
        slots: indices of the target's D dims in the policy's unified vector, in the
            encoder's dim order. Default: the encoder's own training layout.
        vae_slots: the encoder's own placement of its D dims (from its checkpoint).
        policy_normalizer / vae_normalizer: the two normalisers of those D dims; with both,
            chunks go from policy units to encoder units by an affine map (gradients pick up
            its chain rule).
        length: policy chunks longer than the encoder's ``max_chunk_length`` are cropped to
            its first L steps (``crop``; shorter ones go in as they are), or any length is
            interpolated linearly to L steps (``resample``).
    """

    def __init__(self, encoder: ActionVAE, *, slots: Sequence[int] | None = None,
                 vae_slots: EmbodimentSlots | None = None,
                 policy_normalizer: Normalizer | None = None,
                 vae_normalizer: Normalizer | None = None, length: LengthMode = "crop") -> None:
        self.encoder = encoder.eval().requires_grad_(False)
        self.vae_slots = vae_slots or EmbodimentSlots.identity(encoder.config.action_dim)
        self.slots = list(slots) if slots is not None else list(self.vae_slots.indices)
        if len(self.slots) != self.vae_slots.dim:
            raise ConfigError(f"guidance slots name {len(self.slots)} dims but the encoder was "
                              f"trained on {self.vae_slots.dim}; give one slot per encoder dim.")
        self.scale, self.offset = _affine(policy_normalizer, vae_normalizer, self.vae_slots.dim)
        self.length = length

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, slots: Sequence[int] | None = None,
                        policy_normalizer: Normalizer | None = None,
                        device: str | torch.device = "cpu", length: LengthMode = "crop"
                        ) -> PolicyChunkEncoder:
        """Load a stage-2 checkpoint (``runs/align/stage2`` or its ``best/``); a stage-1
        folder loads with a warning (it is not aligned on the target)."""
        ckpt = resolve_checkpoint(Path(folder))
        meta = read_json(ckpt / "config.json", "stage-2 checkpoint")
        saved = meta.get("slots", {})
        vae = ActionVAE.from_pretrained(ckpt).to(device)
        vae_slots = (EmbodimentSlots(tuple(saved["indices"]), int(saved["size"])) if saved
                     else None)
        stage1 = " (a stage-1 folder: it holds the prior)" if (
            ckpt / "prior.safetensors").is_file() else ""
        if stage1:
            log.warning("%s: guidance from a stage-1 VAE%s, not one aligned on the target",
                        ckpt, stage1)
        if slots is not None and vae_slots is not None and len(slots) != vae_slots.dim:
            raise ConfigError(
                f"{ckpt}: this VAE encodes {vae_slots.dim}-d actions{stage1}, but the data it "
                f"should guide has {len(slots)}; pass the stage-2 folder aligned on these "
                "demos (`ate align adapt --data TARGET --prior STAGE1`).")
        norm_path = ckpt / "normalizer.json"
        vae_norm = Normalizer.load(norm_path) if norm_path.is_file() else None
        return cls(vae, slots=slots, vae_slots=vae_slots, policy_normalizer=policy_normalizer,
                   vae_normalizer=vae_norm, length=length)

    @property
    def device(self) -> torch.device:
        """Where the encoder's weights are."""
        return next(self.encoder.parameters()).device

    def to(self, device: str | torch.device) -> PolicyChunkEncoder:
        """Move the encoder (in place) and return self."""
        self.encoder.to(device)
        return self

    def __call__(self, chunks: torch.Tensor, steps: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior ``(mu, logvar)``, each (B, latent_dim), of policy chunks (B, H, U) with
        real steps ``steps`` (B, H) (None: all real); differentiable in ``chunks``."""
        dims = chunks[..., self.slots] * self.scale.to(chunks) + self.offset.to(chunks)
        length = self.encoder.config.max_chunk_length
        if dims.shape[1] > length and self.length == "crop":
            dims, steps = dims[:, :length], None if steps is None else steps[:, :length]
        elif dims.shape[1] != length and self.length == "resample":
            dims = F.interpolate(dims.transpose(1, 2), size=length, mode="linear",
                                 align_corners=True).transpose(1, 2)
            steps = None
        return self.encoder.encode(self.vae_slots.place(dims), steps)


def _affine(policy: Normalizer | None, vae: Normalizer | None, dim: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """scale, offset mapping policy-normalised units to encoder-normalised units."""
    if policy is None or vae is None:
        return torch.ones(dim), torch.zeros(dim)
    # raw = y_p * s_p + o_p ; y_v = (raw - o_v) / s_v
    scale = torch.as_tensor(policy.scale / vae.scale, dtype=torch.float32)
    offset = torch.as_tensor((policy.offset - vae.offset) / vae.scale, dtype=torch.float32)
    return scale, offset
