"""How far Steer moves a policy's regression target on a dataset, measured before training.

Steer's guidance g depends on the demo chunk, the noise and the time, never on the policy's
weights, so fine-tuning with it regresses onto the demos displaced by a fixed field,
``target_shift``: the change of the guided regression target carried into the clean-action
estimate the network implies, at the true time (below any floor too). Its size relative to
the demo actions is the number to look at before spending a fine-tuning run
(docs/results.md has what it measured on the benchmark suites).

The policy enters only through its noising (``corrupt``) and ``family``: any object with
those two (``NoisingPolicy``) can be measured, so this module needs no policy class.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F

from ate.data.chunks import ChunkDataset
from ate.steer.guidance import LatentGuidance
from ate.steer.objectives import Family, clamped_fraction, masked_rms, signal_level

# Above this displacement (share of the actions' RMS) the library's clamp-then-scale form lost
# success significantly on Meta-World (12%: -5.9 points [-10.1, -1.7]; docs/results.md).
SHIFT_WARNING = 0.10
NOISE_BUCKETS = 4


class NoisingPolicy(Protocol):
    """What ``measure_shift`` needs of a policy: its family and its training noising."""

    family: Family

    def corrupt(self, a0: torch.Tensor, generator: torch.Generator | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy input, network time, regression target, time of the guided objective)."""
        ...


def noise_level(family: Family, time: torch.Tensor) -> torch.Tensor:
    """The share of noise in the noisy sample's variance, in [0, 1] (1 = pure noise):
    1 - abar (diffusion), 1 - tau (``flow``), t (``flow_pi0``)."""
    return 1 - signal_level(family, time)


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
        clamped_fraction: share of the real elements at which the clamp binds (of k g for
            ``scale_then_clamp``, of g for ``clamp_then_scale``).
        g_norm: mean |g| per chunk (before any scaling or clamp).
        lam / floor / sign / order / distance / preset: the guidance settings measured.
        chunks: chunks sampled.
        ratio_by_noise: ``ratio`` within four equal bands of ``noise_level`` (clean end
            first; the clean actions' RMS of all chunks below each); None for an empty band.
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
    order: str = "clamp_then_scale"
    distance: str = "sum"
    preset: str | None = None
    ratio_by_noise: list[float | None] = field(default_factory=list)

    def warning(self) -> str | None:
        """A user-facing warning when the displacement exceeds ``SHIFT_WARNING``, else None."""
        if self.ratio <= SHIFT_WARNING:
            return None
        knob = (f"raise --guidance.floor (now {self.floor:g})"
                if self.order == "clamp_then_scale" else "lower --guidance.clamp")
        return (f"Steer moves the implied clean actions by {self.ratio:.0%} of the target "
                f"actions' RMS; on Meta-World every clamp-then-scale setting above "
                f"{SHIFT_WARNING:.0%} lost success against plain fine-tuning "
                f"(docs/results.md). Lower --lam (now {self.lam:g}) or {knob}.")

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)


def measure_shift(policy: NoisingPolicy, guidance: LatentGuidance, dataset: ChunkDataset,
                  *, batches: int = 20, batch_size: int = 64, seed: int = 0,
                  device: str | torch.device | None = None) -> ShiftReport:
    """Sample noise and times as the policy's training does and measure ``target_shift``.

    Args:
        policy: the policy to be fine-tuned (only ``family`` and its noising, ``corrupt``,
            are used; no network forward).
        guidance: the ``LatentGuidance`` it would be trained with (lambda as it stands).
        dataset: the target's training chunks (``action`` (H, U) normalised, ``step_mask``).
        batches / batch_size: how many chunks to sample (with replacement); the batch size
            matters to ``distance="batch_mean"``, so give the training one.
        seed: seeds the chunks, noise and times; the global RNG is restored afterwards.
        device: where to sample (default: the guidance encoder's device).

    Returns:
        A ``ShiftReport``; ``ratio`` is the displacement's RMS as a fraction of the clean
        actions' RMS.
    """
    device = torch.device(device) if device is not None else next(
        guidance.encoder.parameters()).device
    cfg = guidance.config
    pooled = ShiftAccumulator(guidance)
    sums = {"cosine": 0.0, "clamped": 0.0, "g_norm": 0.0}
    bands = [[0.0, 0] for _ in range(NOISE_BUCKETS)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the time samplers draw from the global RNG
        picks = torch.Generator().manual_seed(seed)
        noise = torch.Generator(device).manual_seed(seed)
        for _ in range(batches):
            idx = torch.randint(len(dataset), (batch_size,), generator=picks).tolist()
            batch = dataset.__getitems__(idx)
            a0 = batch["action"].to(device)
            steps = batch.get("step_mask")
            steps = None if steps is None else steps.to(device)
            noisy, _, _, t_guid = policy.corrupt(a0, noise)
            g = guidance(noisy, a0, steps)
            shift, shift_sq = pooled.add(policy.family, g, t_guid, a0, steps)
            real = _real(pooled.mask(a0), steps, shift)
            sums["cosine"] += float(F.cosine_similarity(
                (shift * real).flatten(1), ((noisy - a0) * real).flatten(1), dim=1).sum())
            sums["clamped"] += float(clamped_fraction(
                policy.family, g, t_guid, clamp=cfg.clamp, order=cfg.order, floor=cfg.floor,
                mask=pooled.mask(a0), step_mask=steps).sum())
            sums["g_norm"] += float(guidance.last_stats.g_norm.sum())
            level = noise_level(policy.family, torch.as_tensor(t_guid).expand(len(idx)))
            band = (level * NOISE_BUCKETS).long().clamp(0, NOISE_BUCKETS - 1).cpu()
            for b, sq in zip(band.tolist(), shift_sq.cpu().tolist(), strict=True):
                bands[b][0] += sq
                bands[b][1] += 1
    count = pooled.count
    shift_rms, clean_rms = pooled.shift_rms, pooled.clean_rms
    scale = max(clean_rms, 1e-12)
    return ShiftReport(
        ratio=shift_rms / scale, shift_rms=shift_rms, clean_rms=clean_rms,
        noise_cosine=sums["cosine"] / count, clamped_fraction=sums["clamped"] / count,
        g_norm=sums["g_norm"] / count, lam=float(guidance.lam), floor=cfg.floor, sign=cfg.sign,
        chunks=count, order=cfg.order, distance=cfg.distance, preset=cfg.preset,
        ratio_by_noise=[(sq / n) ** 0.5 / scale if n else None for sq, n in bands])


class ShiftAccumulator:
    """Pools Steer's displacement over batches: the sums behind ``ShiftReport.ratio``, the
    RMS (over the target's slots and real steps) of ``target_shift`` over that of the clean
    actions, per-chunk squares summed before the root. ``measure_shift`` feeds it sampled
    batches; a trainer can feed it its own (the LeRobot plugin's ``ShiftLog`` does).

    Args:
        guidance: the ``LatentGuidance`` whose g is fed (its slots and ``target_shift``).
    """

    def __init__(self, guidance: LatentGuidance) -> None:
        self.guidance = guidance
        self.shift_sq, self.clean_sq, self.count = 0.0, 0.0, 0

    def mask(self, like: torch.Tensor) -> torch.Tensor:
        """(U,) bool for chunks shaped like ``like`` (..., U): True at the target's slots."""
        mask = torch.zeros(like.shape[-1], dtype=torch.bool, device=like.device)
        mask[self.guidance.slots] = True
        return mask

    @torch.no_grad()
    def add(self, family: Family, g: torch.Tensor, time: torch.Tensor | float,
            clean: torch.Tensor, steps: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add one batch: g and clean (B, H, U) in the policy's normalised units, time as
        ``target_shift``, steps (B, H) bool. Returns the displacement (B, H, U) and its
        per-chunk mean square (B,)."""
        mask = self.mask(g)
        shift = self.guidance.target_shift(family, g, time)
        shift_sq = masked_rms(shift, mask, steps).pow(2)
        self.shift_sq += float(shift_sq.sum())
        self.clean_sq += float(masked_rms(clean, mask, steps).pow(2).sum())
        self.count += len(g)
        return shift, shift_sq

    @property
    def shift_rms(self) -> float:
        """RMS of the displacement so far (normalised action units)."""
        return (self.shift_sq / max(self.count, 1)) ** 0.5

    @property
    def clean_rms(self) -> float:
        """RMS of the clean actions so far (normalised action units)."""
        return (self.clean_sq / max(self.count, 1)) ** 0.5

    @property
    def ratio(self) -> float:
        """shift_rms / clean_rms (0 for an all-zero clean set)."""
        return self.shift_rms / max(self.clean_rms, 1e-12)


def _real(mask: torch.Tensor, steps: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """(B, H, U) weights: 1 at the target's slots and real steps."""
    real = mask.to(like.dtype).expand_as(like)
    return real if steps is None else real * steps[..., None].to(like.dtype)
