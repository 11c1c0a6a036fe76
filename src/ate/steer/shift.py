"""How far Steer moves a policy's regression target on a dataset, measured before training.

Steer's guidance g depends on the demo chunk, the noise and the time, never on the policy's
weights, so fine-tuning with it regresses onto the demos displaced by a fixed field,
``target_shift`` (-lam * s(t) * clamp(g) for the paper sign). Its size relative to the demo
actions is the number to look at before spending a fine-tuning run: on Meta-World
(docs/results.md) ATE lost success once the displacement was a sizeable fraction of the
actions, and was indistinguishable from plain fine-tuning when it was a few percent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ate.data.chunks import ChunkDataset
from ate.policies import GenerativePolicy
from ate.steer.guidance import LatentGuidance
from ate.steer.objectives import masked_rms, target_shift

# Above this displacement (share of the actions' RMS) ATE lost success significantly on
# Meta-World (12%: -5.9 points [-10.1, -1.7]; 6%: -2.7 [-6.7, +1.7]; docs/results.md).
SHIFT_WARNING = 0.10


@dataclass
class ShiftReport:
    """Steer's displacement of the regression target, averaged over sampled batches.

    Attributes:
        ratio: RMS of the displacement over RMS of the clean target actions (both over the
            real slots and steps, in the policy's normalised units).
        shift_rms / clean_rms: the two RMS values.
        noise_cosine: mean cosine between the displacement and (noisy - clean) per chunk:
            positive when the guided target moves the clean-action estimate toward the
            noisy sample (the policy learns to leave noise in), negative when away.
        clamped_fraction: share of g's elements beyond the clamp.
        g_norm: mean |g| per chunk (before the clamp).
        lam / floor / sign: the guidance settings measured.
        chunks: chunks sampled.
    """

    ratio: float
    shift_rms: float
    clean_rms: float
    noise_cosine: float
    clamped_fraction: float
    g_norm: float
    lam: float
    floor: float
    sign: str
    chunks: int

    def warning(self) -> str | None:
        """A user-facing warning when the displacement exceeds ``SHIFT_WARNING``, else None."""
        if self.ratio <= SHIFT_WARNING:
            return None
        return (f"Steer moves the regression target by {self.ratio:.0%} of the target actions' "
                f"RMS; on Meta-World every setting above {SHIFT_WARNING:.0%} lost success "
                f"against plain fine-tuning (docs/results.md). Lower --lam (now "
                f"{self.lam:g}) or raise --guidance.floor (now {self.floor:g}).")

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)


def measure_shift(policy: GenerativePolicy, guidance: LatentGuidance, dataset: ChunkDataset,
                  *, batches: int = 20, batch_size: int = 64, seed: int = 0) -> ShiftReport:
    """Sample noise and times as the policy's training does and measure ``target_shift``.

    Args:
        policy: the policy to be fine-tuned (only its noising, ``corrupt``, is used; no
            network forward).
        guidance: the ``LatentGuidance`` it would be trained with (lambda as it stands).
        dataset: the target's training chunks (``action`` (H, U) normalised, ``step_mask``).
        batches / batch_size: how many chunks to sample (with replacement).
        seed: seeds the chunks, noise and times; the global RNG is restored afterwards.

    Returns:
        A ``ShiftReport``; ``ratio`` is the displacement's RMS as a fraction of the clean
        actions' RMS.
    """
    device = next(policy.parameters()).device
    shift_sq = clean_sq = cosine = clamped = g_norm = 0.0
    count = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the time samplers draw from the global RNG
        picks = torch.Generator().manual_seed(seed)
        noise = torch.Generator(device).manual_seed(seed)
        cfg = guidance.config
        for _ in range(batches):
            idx = torch.randint(len(dataset), (batch_size,), generator=picks).tolist()
            batch = dataset.__getitems__(idx)
            a0 = batch["action"].to(device)
            steps = batch.get("step_mask")
            steps = None if steps is None else steps.to(device)
            noisy, _, _, t_guid = policy.corrupt(a0, noise)
            g = guidance(noisy, a0, steps)
            mask = torch.zeros(a0.shape[-1], dtype=torch.bool, device=device)
            mask[guidance.slots] = True
            shift = target_shift(policy.family, g, t_guid, lam=guidance.lam, clamp=cfg.clamp,
                                 sign=cfg.sign, floor=cfg.floor)
            shift_sq += float(masked_rms(shift, mask, steps).pow(2).sum())
            real = _real(mask, steps, shift)
            cosine += float(F.cosine_similarity((shift * real).flatten(1),
                                                ((noisy - a0) * real).flatten(1), dim=1).sum())
            clean_sq += float(masked_rms(a0, mask, steps).pow(2).sum())
            stats = guidance.last_stats
            clamped += float(stats.clamped_fraction.sum())
            g_norm += float(stats.g_norm.sum())
            count += len(idx)
    shift_rms, clean_rms = (shift_sq / count) ** 0.5, (clean_sq / count) ** 0.5
    return ShiftReport(ratio=shift_rms / max(clean_rms, 1e-12), shift_rms=shift_rms,
                       clean_rms=clean_rms, noise_cosine=cosine / count,
                       clamped_fraction=clamped / count,
                       g_norm=g_norm / count, lam=float(guidance.lam),
                       floor=guidance.config.floor, sign=guidance.config.sign, chunks=count)


def _real(mask: torch.Tensor, steps: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """(B, H, U) weights: 1 at the target's slots and real steps."""
    real = mask.to(like.dtype).expand_as(like)
    return real if steps is None else real * steps[..., None].to(like.dtype)
