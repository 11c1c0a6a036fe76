"""``LatentGuidance``: the frozen stage-2 encoder turned into a guidance vector.

    g = -grad_{a_k} J,   J = || E(a_k) - E(a0) ||^2

for noisy chunks a_k and clean chunks a0 in the policy's action space, masked to the
target's real slots. The encoder is frozen (no parameter ever requires grad) and is not an
``nn.Module`` attribute of this object, so it never lands in a policy's ``parameters()``,
optimiser or checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ate.align.vae import ActionVAE
from ate.data.chunks import ChunkDataset, MixedChunkDataset
from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.errors import ConfigError
from ate.steer.action_space import ACTION_SPACE, ActionSpaceEncoder
from ate.steer.batch_rows import take_rows
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.clean_latents import CleanLatentTable
from ate.steer.objectives import (
    Family,
    Order,
    Sign,
    clamped_fraction,
    guidance_term,
    guided_loss,
    masked_rms,
    target_shift,
)

log = logging.getLogger(__name__)


# Each preset: the fields it fixes and its lambda. ``release``: the authors' arithmetic (their
# RDT and Diffusion Policy code alike): F.mse_loss over the latents (mean over batch and
# latent dims), reparameterised latents with one shared noise, the family's coefficient
# before the clamp, no time floor; lambda 3 as their RDT config. ``floored``: this library's
# form before 2026-11-30 (per-sample squared norm of posterior means, clamp g and then scale,
# time floor 0.5), lambda 0.5.
PRESETS: dict[str, tuple[dict[str, object], float]] = {
    "release": ({"latent": "sample", "distance": "batch_mean", "order": "scale_then_clamp",
                 "floor": 0.0}, 3.0),
    "floored": ({"latent": "mean", "distance": "sum", "order": "clamp_then_scale",
                 "floor": 0.5}, 0.5),
}
DEFAULT_LAM = 2.0  # the paper's best lambda, with the release's arithmetic (the defaults)


@dataclass
class GuidanceConfig:
    """How the guidance vector is computed and folded into a loss.

    Attributes:
        lam: guidance strength lambda; None takes the preset's (``release`` 3.0, the
            release's RDT config; ``floored`` 0.5), else 2.0 (the paper's best).
        clamp: element-wise bound c (release: 0.1); None for no clamp. Where it applies is
            ``order``.
        sign: ``paper`` (paper and release) or ``tilted`` (classifier guidance).
        latent: ``sample`` (one reparameterisation noise shared by both latents, as the
            release) or ``mean`` (posterior means, deterministic).
        distance: how J is reduced over the latent dims and the batch: ``batch_mean`` (the
            release's ``F.mse_loss``: the mean over batch and latent dims, so each sample's g
            is 1/(B d) of its squared norm's gradient and the strength depends on the batch
            size B), ``sum`` (per-sample squared norm) or ``mean`` (per-sample mean over
            latent dims).
        reference_batch: divide the per-sample J by this B instead of the batch's own size
            (with it, ``batch_mean`` becomes ``mean``): ``distance="mean",
            reference_batch=B`` is exactly the release's g at batch B whatever batch you
            train with (rescaling lambda
            instead is equivalent only where the clamp does not bind, because the release
            clamps after scaling and multiplies by lambda after the clamp).
        order: ``scale_then_clamp`` (release: clamp(k g) in the prediction's space, so the
            target moves by at most lam * c per element) or ``clamp_then_scale``
            (k * clamp(g); bounded only by ``floor``). See ``ate.steer.objectives``.
        length: chunk-length mismatch between policy (H) and encoder (L): ``crop`` feeds
            the first L steps (the rest get zero guidance; shorter chunks go in as they are),
            ``resample`` interpolates linearly in time to L steps.
        auto_fraction: if set, lambda is chosen on the first ``auto_batches`` calls of
            ``loss`` so that the mean clean-action shift is this fraction of the clean
            actions' RMS, then frozen and logged.
        auto_batches: batches used to calibrate lambda.
        floor: lower bound on abar / tau / 1 - t inside the target coefficient k (0, the
            release's: only a numerical guard); 0.5 bounds the flow coefficient by 1.
        batched: encode noisy and clean chunks in one forward pass of 2B chunks (the
            backward then also runs over 2B); False runs E(a0) without autograd and only
            E(a_k) through the graph. ``benchmarks/guidance_overhead.py`` times both.
        preset: ``release`` fixes the authors' arithmetic (the defaults: ``latent="sample"``,
            ``distance="batch_mean"`` (or ``mean`` with ``reference_batch``),
            ``order="scale_then_clamp"``, ``floor=0``) and makes lambda default to 3.0;
            ``floored`` fixes this library's earlier form (``mean`` latents, ``sum``,
            ``clamp_then_scale``, floor 0.5; lambda 0.5). A fixed field set to anything but
            the preset's value or the class default is an error (one at the class default
            takes the preset's value). None: the fields as given.

    The defaults are the release's arithmetic with the paper's lambda 2: on the Meta-World
    benchmark it was on par with plain fine-tuning where the earlier form at the same lambda
    collapsed every policy (docs/results.md).
    """

    lam: float | None = None
    clamp: float | None = 0.1
    sign: Sign = "paper"
    latent: Literal["mean", "sample"] = "sample"
    distance: Literal["sum", "mean", "batch_mean"] = "batch_mean"
    reference_batch: int | None = None
    order: Order = "scale_then_clamp"
    length: Literal["crop", "resample"] = "crop"
    auto_fraction: float | None = None
    auto_batches: int = 10
    floor: float = 0.0
    batched: bool = False
    preset: Literal["release", "floored"] | None = None

    def __post_init__(self) -> None:
        if self.preset is not None:
            self._apply_preset(self.preset)
        if self.reference_batch is not None and self.distance == "batch_mean" and \
                self.preset is None:
            self.distance = "mean"  # the batch-independent form of the default
        if self.lam is None:
            self.lam = DEFAULT_LAM
        bad = [f"guidance.{name} = {value!r} ({rule})" for name, value, ok, rule in (
            ("lam", self.lam, self.lam >= 0, ">= 0"),
            ("clamp", self.clamp, self.clamp is None or self.clamp > 0, "> 0 or None"),
            ("floor", self.floor, 0 <= self.floor < 1, "in [0, 1)"),
            ("auto_fraction", self.auto_fraction,
             self.auto_fraction is None or self.auto_fraction > 0, "> 0 or None"),
            ("auto_batches", self.auto_batches, self.auto_batches >= 1, ">= 1"),
            ("reference_batch", self.reference_batch,
             self.reference_batch is None or self.reference_batch >= 1, ">= 1 or None"))
            if not ok]
        if bad:
            raise ConfigError("; ".join(bad) + ": out of range.")

    def _apply_preset(self, name: str) -> None:
        default = GuidanceConfig.__dataclass_fields__
        fixed, lam = PRESETS[name]
        if name == "release" and self.reference_batch is not None:
            fixed = {**fixed, "distance": "mean"}  # exactly the release at that batch size
        for field_name, value in fixed.items():
            now = getattr(self, field_name)
            if now not in (value, default[field_name].default):
                raise ConfigError(f"guidance.preset {name} fixes {field_name} = {value!r}, but "
                                  f"it is {now!r}: drop the preset (or the {field_name} "
                                  "setting).")
            setattr(self, field_name, value)
        if self.lam is None:
            self.lam = lam

    def describe(self) -> str:
        """One line naming the form and its numbers, for reports."""
        clamp = "no clamp" if self.clamp is None else f"clamp {self.clamp:g}"
        batch = f", reference batch {self.reference_batch}" if self.reference_batch else ""
        form = (f"{self.distance.replace('_', ' ')} distance{batch}, {self.latent} latents, "
                f"{self.order.replace('_', ' ')}, floor {self.floor:g}, sign {self.sign}")
        head = f"{self.preset} preset, " if self.preset else ""
        return f"{head}lambda {self.lam:g}, {clamp} ({form})"

    @classmethod
    def release(cls, lam: float = PRESETS["release"][1], **fields: object) -> GuidanceConfig:
        """The authors' released arithmetic (``preset="release"``) with this lambda (release
        RDT: 3.0; the paper's sweep: 2.0); ``fields`` set the free ones (``clamp``,
        ``sign``, ``reference_batch``, ``length``, ``batched``...)."""
        return cls(lam=lam, preset="release", **fields)  # type: ignore[arg-type]


@dataclass
class GuidanceStats:
    """Diagnostics of the last call, per sample (B,): |g| and the latent distance J; once
    ``loss`` has run, also the share of real elements at which the clamp binds, |term| (the
    target's change, prediction units), and the RMS of the implied clean-action shift
    (``target_shift``, policy units) and of the clean actions."""

    g_norm: torch.Tensor
    distance: torch.Tensor
    clamped_fraction: torch.Tensor | None = None
    term_norm: torch.Tensor | None = None
    shift_rms: torch.Tensor | None = None
    clean_rms: torch.Tensor | None = None

    def summary(self, time: torch.Tensor | None = None, buckets: int = 4) -> dict[str, float]:
        """Batch means, and with ``time`` (B,) scaled to [0, 1] (e.g. t / T, or 1 - tau, so
        that 1 is the noise end) also per time bucket: ``g_norm/t0`` ... ``g_norm/t3``.
        ``target_shift`` is the shift's RMS over the batch, ``target_shift_ratio`` that over
        the clean actions' RMS."""
        fields = {"g_norm": self.g_norm, "latent_distance": self.distance,
                  "clamped_fraction": self.clamped_fraction, "term_norm": self.term_norm}
        fields = {k: v for k, v in fields.items() if v is not None}
        out = {k: float(v.float().mean()) for k, v in fields.items()}
        if self.shift_rms is not None:  # RMS over the batch, as ``measure_shift`` pools it
            out["target_shift"] = float(self.shift_rms.float().pow(2).mean().sqrt())
            if self.clean_rms is not None:
                out["target_shift_ratio"] = out["target_shift"] / max(
                    float(self.clean_rms.float().pow(2).mean().sqrt()), 1e-12)
        if time is not None:
            bucket = (time.float().clamp(0, 1) * buckets).long().clamp(max=buckets - 1).cpu()
            for b in range(buckets):
                sel = bucket == b
                if sel.any():
                    out.update({f"{k}/t{b}": float(v.cpu()[sel].float().mean())
                                for k, v in fields.items()})
        return out


class LatentGuidance:
    """Computes g for batches of (noisy, clean) chunks in the policy's action space.

    Args:
        encoder: a trained stage-2 ``ActionVAE`` (frozen here).
        config: see ``GuidanceConfig``.
        slots: indices of the target's D dims in the policy's unified vector (B, H, U),
            in the encoder's dim order. Default: the encoder's own training layout.
        vae_slots: the encoder's own placement of its D dims (from its checkpoint).
        policy_normalizer: the policy's normaliser for those D dims, if it differs from
            the encoder's; with ``vae_normalizer`` it maps policy units to encoder units
            (the gradient picks up the chain rule through that affine map).
        vae_normalizer: the encoder's own normaliser (from its checkpoint).
    """

    def __init__(self, encoder: ActionVAE | PolicyChunkEncoder,
                 config: GuidanceConfig | None = None, *, slots: Sequence[int] | None = None,
                 vae_slots: EmbodimentSlots | None = None,
                 policy_normalizer: Normalizer | None = None,
                 vae_normalizer: Normalizer | None = None) -> None:
        self.config = config or GuidanceConfig()
        self.view = encoder if isinstance(encoder, PolicyChunkEncoder) else PolicyChunkEncoder(
            encoder, slots=slots, vae_slots=vae_slots, policy_normalizer=policy_normalizer,
            vae_normalizer=vae_normalizer, length=self.config.length)
        self.encoder, self.slots, self.vae_slots = (self.view.encoder, self.view.slots,
                                                    self.view.vae_slots)
        self.lam = self.config.lam
        self._calibration: list[tuple[float, float]] = []
        self.last_stats: GuidanceStats | None = None
        self.table: CleanLatentTable | None = None

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, slots: Sequence[int] | None = None,
                        policy_normalizer: Normalizer | None = None,
                        device: str | torch.device = "cpu", **config: object
                        ) -> LatentGuidance:
        """Load a stage-2 checkpoint (``runs/align/stage2`` or its ``best/``), or with
        ``folder="action-space"`` (``ACTION_SPACE``) Steer with no VAE: J in action space over
        ``slots`` (``ate.steer.action_space``; the policy's normalised units).

        Keyword arguments beyond ``slots``, ``policy_normalizer`` and ``device`` set
        ``GuidanceConfig`` fields, e.g. ``lam=3.0`` (the release's RDT lambda; the default
        is the release's arithmetic at the paper's lambda 2) or ``preset="floored"``.
        """
        cfg = GuidanceConfig(**config)  # type: ignore[arg-type]
        if str(folder) == ACTION_SPACE:
            if slots is None:
                raise ConfigError(f"guidance from {ACTION_SPACE!r} needs the target's slots "
                                  "(slots=): there is no VAE checkpoint to read them from.")
            return cls(PolicyChunkEncoder(ActionSpaceEncoder(len(slots)), slots=slots), cfg)
        view = PolicyChunkEncoder.from_pretrained(folder, slots=slots,
                                                  policy_normalizer=policy_normalizer,
                                                  device=device, length=cfg.length)
        return cls(view, cfg)

    def to(self, device: str | torch.device) -> LatentGuidance:
        """Move the encoder and its clean-latent table (in place) and return self."""
        self.encoder.to(device)
        if self.table is not None:
            self.table.to(device)
        return self

    def cache_clean_latents(self, dataset: ChunkDataset | MixedChunkDataset) -> None:
        """Encode the clean chunks of ``dataset`` (the training set) once
        (``CleanLatentTable``); calls given its batches' ``index`` then look E(a0) up."""
        self.table = CleanLatentTable.build(self.view, dataset)

    # -- the guidance vector ----------------------------------------------------------------
    def __call__(self, noisy: torch.Tensor, clean: torch.Tensor | None = None,
                 step_mask: torch.Tensor | None = None,
                 clean_latents: tuple[torch.Tensor, torch.Tensor] | None = None,
                 index: torch.Tensor | None = None, rows: torch.Tensor | None = None
                 ) -> torch.Tensor:
        """g = -grad_{noisy} ||E(noisy) - E(clean)||^2, masked to the target's slots.

        Args:
            noisy: (B, H, U) noisy chunks a_k (or a_tau) in the policy's units.
            clean: (B, H, U) the clean chunks a0 they were made from.
            step_mask: (B, H) bool, False at padded steps (not encoded).
            clean_latents: E(a0) as ``(mu, logvar)`` from ``clean_latents()``, instead of
                ``clean``: clean chunks do not change between epochs, so their latents can be
                computed once per dataset, leaving one encoder forward + backward per step.
            index: (B,) the chunks' window indices (a batch's ``index``): with a table from
                ``cache_clean_latents``, E(a0) is looked up there (``clean`` still given).
            rows: (B,) bool, the target robot's rows of a co-training batch (the others are
                another dataset's chunks, which the target's encoder cannot read): only they
                are encoded, g is exactly zero on the rest, and ``batch_mean`` still divides
                by the whole B, so a target row's g is what a target-only batch of B gives.
                ``clean_latents``, when given, are the selected rows' only.

        Returns:
            g, (B, H, U), unclamped and unscaled (with ``distance="batch_mean"`` already
            divided by B, as the release's ``F.mse_loss``), exactly zero outside the
            target's slots;
            no autograd graph is kept (safe to use inside the policy's own loss).
        """
        if rows is not None:
            g = torch.zeros_like(noisy)
            if rows.any():
                clean_r, steps_r, index_r = (take_rows(rows, x) for x in (clean, step_mask, index))
                g[rows] = self._gradient(noisy[rows], clean_r, steps_r, clean_latents, index_r,
                                         divisor=len(noisy))
            return g
        return self._gradient(noisy, clean, step_mask, clean_latents, index,
                              divisor=len(noisy))

    def _gradient(self, noisy: torch.Tensor, clean: torch.Tensor | None,
                  step_mask: torch.Tensor | None,
                  clean_latents: tuple[torch.Tensor, torch.Tensor] | None,
                  index: torch.Tensor | None, divisor: int) -> torch.Tensor:
        param = next(self.encoder.parameters())
        x = noisy.detach().to(param.device, param.dtype).requires_grad_(True)
        steps = None if step_mask is None else step_mask.to(param.device)
        if clean_latents is None and index is not None and self.table is not None:
            if clean is None:
                raise ValueError("a table lookup checks the clean chunks: pass clean= too")
            clean_latents = self.table.lookup(index, clean, step_mask)
        with torch.enable_grad():
            if clean_latents is not None:
                mu0, logvar0 = (t.to(param.device, param.dtype) for t in clean_latents)
                mu, logvar = self._encode(x, steps)
            elif clean is None:
                raise ValueError("pass the clean chunks (clean=) or their clean_latents=")
            elif self.config.batched:
                clean = clean.detach().to(param.device, param.dtype)
                both = None if steps is None else torch.cat([steps, steps])
                mu_all, logvar_all = self._encode(torch.cat([x, clean]), both)
                (mu, mu0), (logvar, logvar0) = mu_all.chunk(2), logvar_all.chunk(2)
                mu0, logvar0 = mu0.detach(), logvar0.detach()
            else:
                mu0, logvar0 = self.clean_latents(clean, step_mask)
                mu, logvar = self._encode(x, steps)
            if self.config.latent == "sample":
                eps = torch.randn_like(mu)  # one noise for both latents, as the release
                z, z0 = mu + (0.5 * logvar).exp() * eps, mu0 + (0.5 * logvar0).exp() * eps
            else:
                z, z0 = mu, mu0
            sq = (z - z0).pow(2)
            distance = sq.sum(-1) if self.config.distance == "sum" else sq.mean(-1)
            (grad,) = torch.autograd.grad(distance.sum() / self._divisor(divisor), x)
        g = (-grad).to(noisy.dtype).to(noisy.device)
        self.last_stats = GuidanceStats(g.flatten(1).norm(dim=1), distance.detach())
        return g

    def _divisor(self, batch: int) -> int:
        """What the summed per-sample distances are divided by before the gradient."""
        if self.config.distance == "batch_mean":
            return batch
        return self.config.reference_batch or 1

    @torch.no_grad()
    def clean_latents(self, clean: torch.Tensor, step_mask: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """E(a0) without autograd: ``(mu, logvar)``, each (B, latent_dim)."""
        param = next(self.encoder.parameters())
        steps = None if step_mask is None else step_mask.to(param.device)
        return self._encode(clean.detach().to(param.device, param.dtype), steps)

    def _encode(self, chunks: torch.Tensor, steps: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.view(chunks, steps)

    # -- folding into a loss ----------------------------------------------------------------
    def loss(self, family: Family, pred: torch.Tensor, target: torch.Tensor, g: torch.Tensor,
             time: torch.Tensor | float, *, clean: torch.Tensor | None = None,
             mask: torch.Tensor | None = None, step_mask: torch.Tensor | None = None,
             rows: torch.Tensor | None = None) -> torch.Tensor:
        """``guided_loss`` with this object's lambda, clamp, sign, order and floor.

        ``mask`` defaults to the target's slots. With ``auto_fraction`` set, pass ``clean``
        (the a0 chunks) during the first ``auto_batches`` calls so lambda can be calibrated.
        ``rows`` (B,) bool: the target's rows of a co-training batch (``__call__``'s): the
        loss is over the whole batch (g is zero on the other rows, so theirs is the plain
        loss), the calibration and the logged statistics over these rows only.
        """
        cfg = self.config
        if mask is None:
            mask = torch.zeros(pred.shape[-1], dtype=torch.bool, device=pred.device)
            mask[self.slots] = True
        calibrating = cfg.auto_fraction is not None and len(self._calibration) < cfg.auto_batches
        if (calibrating or self.last_stats is not None) and (rows is None or rows.any()):
            own = _select_rows(rows, g, time, clean, mask, step_mask)
            if calibrating:
                self._calibrate(family, *own[:3], own[3])
            if self.last_stats is not None:
                self._record_loss_stats(family, *own)
        return guided_loss(family, pred, target, g, time, lam=self.lam, clamp=cfg.clamp,
                           sign=cfg.sign, order=cfg.order, mask=mask, step_mask=step_mask,
                           floor=cfg.floor)

    def target_shift(self, family: Family, g: torch.Tensor, time: torch.Tensor | float,
                     lam: float | None = None) -> torch.Tensor:
        """``ate.steer.objectives.target_shift`` with this object's settings (lambda as it
        stands unless given): the implied clean-action shift (B, H, U), policy units."""
        cfg = self.config
        return target_shift(family, g, time, lam=self.lam if lam is None else lam,
                            clamp=cfg.clamp, sign=cfg.sign, order=cfg.order, floor=cfg.floor)

    @torch.no_grad()
    def _record_loss_stats(self, family: Family, g: torch.Tensor, time: torch.Tensor | float,
                           clean: torch.Tensor | None, mask: torch.Tensor,
                           step_mask: torch.Tensor | None) -> None:
        cfg, stats = self.config, self.last_stats
        stats.clamped_fraction = clamped_fraction(family, g, time, clamp=cfg.clamp,
                                                  order=cfg.order, floor=cfg.floor, mask=mask,
                                                  step_mask=step_mask)
        term = guidance_term(family, g, time, lam=self.lam, clamp=cfg.clamp, order=cfg.order,
                             floor=cfg.floor)
        stats.term_norm = term.flatten(1).norm(dim=1)
        stats.shift_rms = masked_rms(self.target_shift(family, g, time), mask, step_mask)
        stats.clean_rms = None if clean is None else masked_rms(clean.detach(), mask, step_mask)

    def calibration_state(self) -> dict[str, torch.Tensor]:
        """What ``auto_fraction`` has measured so far and the lambda it chose, for a resumable
        checkpoint: a resumed run must not recalibrate on other batches."""
        pairs = torch.tensor(self._calibration, dtype=torch.float64).reshape(-1, 2)
        return {"calibration": pairs, "lam": torch.tensor(float(self.lam), dtype=torch.float64)}

    def load_calibration_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore ``calibration_state()``."""
        self._calibration = [(float(a), float(b)) for a, b in state["calibration"].tolist()]
        self.lam = float(state["lam"])

    def _calibrate(self, family: Family, g: torch.Tensor, time: torch.Tensor | float,
                   clean: torch.Tensor | None, mask: torch.Tensor) -> None:
        if clean is None:
            raise ValueError("lam='auto' (auto_fraction) needs clean=a0 in loss() while it "
                             "calibrates")
        shift = self.target_shift(family, g, time, lam=1.0)  # linear in lambda, both orders
        real = mask.expand_as(g[:, 0]).unsqueeze(1).expand_as(g)
        shift_rms = shift[real].pow(2).mean().sqrt().item()
        clean_rms = clean[real].pow(2).mean().sqrt().item()
        self._calibration.append((shift_rms, clean_rms))
        if len(self._calibration) == self.config.auto_batches:
            shift_mean = sum(a for a, _ in self._calibration) / len(self._calibration)
            clean_mean = sum(b for _, b in self._calibration) / len(self._calibration)
            self.lam = self.config.auto_fraction * clean_mean / max(shift_mean, 1e-12)
            log.info("guidance lambda calibrated to %.4g (shift %.1f%% of the clean-action "
                     "RMS %.3g over %d batches)", self.lam, 100 * self.config.auto_fraction,
                     clean_mean, len(self._calibration))


def _select_rows(rows: torch.Tensor | None, g: torch.Tensor, time: torch.Tensor | float,
                 clean: torch.Tensor | None, mask: torch.Tensor,
                 step_mask: torch.Tensor | None) -> tuple:
    """(g, time, clean, mask, step_mask) of the selected rows; as given when ``rows`` is None.
    A (U,) mask is shared by every row."""
    if rows is None:
        return g, time, clean, mask, step_mask
    return (g[rows], take_rows(rows, time), take_rows(rows, clean),
            take_rows(rows, mask) if mask.ndim == 2 else mask, take_rows(rows, step_mask))


def recorded_guidance(data: dict) -> dict:
    """A ``GuidanceConfig`` as recorded in a run's config, in today's schema: a record from
    before ``order`` existed ran clamp then scale, and one from before the defaults became
    the release's recorded every other field it used."""
    return {"order": "clamp_then_scale", **data} if "order" not in data else data
