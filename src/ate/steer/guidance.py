"""``LatentGuidance``: the frozen stage-2 encoder turned into a guidance vector.

    g = -grad_{a_k} J,   J = || E(a_k) - E(a0) ||^2

for noisy chunks a_k and clean chunks a0 in the policy's action space, masked to the
target's real slots. The encoder is frozen (no parameter ever requires grad) and is not an
``nn.Module`` attribute of this object, so it never lands in a policy's ``parameters()``,
optimiser or checkpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from ate.align.vae import ActionVAE
from ate.checkpoint import resolve_checkpoint
from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.steer.objectives import Family, Sign, clamp_guidance, guided_loss, masked_rms, target_shift

log = logging.getLogger(__name__)


@dataclass
class GuidanceConfig:
    """How the guidance vector is computed and folded into a loss.

    Attributes:
        lam: guidance strength lambda. Default 0.5 with ``floor`` 0.5: the benchmark's
            setting (docs/results.md); the paper's lambda 2 (release RDT: 3) with a small
            floor displaced Meta-World's regression target by 186% of the actions' RMS
            and every such policy failed, so it is an option, not the default.
        clamp: element-wise bound c on g (release: 0.1); None for no clamp.
        sign: ``paper`` (paper and release) or ``tilted`` (classifier guidance).
        latent: ``mean`` (deterministic, default) or ``sample`` (one reparameterisation
            noise shared by both latents, as the release).
        distance: ``sum`` (squared norm) or ``mean`` over latent dims (release).
        length: chunk-length mismatch between policy (H) and encoder (L): ``crop`` feeds
            the first L steps (the rest get zero guidance; shorter chunks go in as they are),
            ``resample`` interpolates linearly in time to L steps.
        auto_fraction: if set, lambda is chosen on the first ``auto_batches`` calls of
            ``loss`` so that the mean clean-action shift lam * s * |G| is this fraction of
            the clean actions' RMS, then frozen and logged.
        auto_batches: batches used to calibrate lambda.
        floor: lower bound on abar / tau where the time factors diverge; 0.5 bounds the
            flow factor (1 - tau)^2 / tau by 0.5 and the epsilon factor by 0.71.
        batched: encode noisy and clean chunks in one forward pass of 2B chunks (the
            backward then also runs over 2B); False runs E(a0) without autograd and only
            E(a_k) through the graph. ``benchmarks/guidance_overhead.py`` times both.
    """

    lam: float = 0.5
    clamp: float | None = 0.1
    sign: Sign = "paper"
    latent: Literal["mean", "sample"] = "mean"
    distance: Literal["sum", "mean"] = "sum"
    length: Literal["crop", "resample"] = "crop"
    auto_fraction: float | None = None
    auto_batches: int = 10
    floor: float = 0.5
    batched: bool = False


@dataclass
class GuidanceStats:
    """Diagnostics of the last call, per sample (B,): |g| before and after the clamp, the
    share of clamped elements, the latent distance J; once ``loss`` has run, also the RMS
    of the target shift (``target_shift``, policy units) and of the clean actions."""

    g_norm: torch.Tensor
    g_norm_clamped: torch.Tensor
    clamped_fraction: torch.Tensor
    distance: torch.Tensor
    shift_rms: torch.Tensor | None = None
    clean_rms: torch.Tensor | None = None

    def summary(self, time: torch.Tensor | None = None, buckets: int = 4) -> dict[str, float]:
        """Batch means, and with ``time`` (B,) scaled to [0, 1] (e.g. t / T, or 1 - tau, so
        that 1 is the noise end) also per time bucket: ``g_norm/t0`` ... ``g_norm/t3``.
        ``target_shift`` is the shift's RMS over the batch, ``target_shift_ratio`` that over
        the clean actions' RMS."""
        fields = {"g_norm": self.g_norm, "g_norm_clamped": self.g_norm_clamped,
                  "clamped_fraction": self.clamped_fraction, "latent_distance": self.distance}
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

    def __init__(self, encoder: ActionVAE, config: GuidanceConfig | None = None, *,
                 slots: Sequence[int] | None = None, vae_slots: EmbodimentSlots | None = None,
                 policy_normalizer: Normalizer | None = None,
                 vae_normalizer: Normalizer | None = None) -> None:
        self.config = config or GuidanceConfig()
        self.encoder = encoder.eval().requires_grad_(False)
        self.vae_slots = vae_slots or EmbodimentSlots.identity(encoder.config.action_dim)
        self.slots = list(slots) if slots is not None else list(self.vae_slots.indices)
        if len(self.slots) != self.vae_slots.dim:
            raise ValueError(f"guidance slots name {len(self.slots)} dims but the encoder was "
                             f"trained on {self.vae_slots.dim}; give one slot per encoder dim.")
        self.scale, self.offset = _affine(policy_normalizer, vae_normalizer, self.vae_slots.dim)
        self.lam = self.config.lam
        self._calibration: list[tuple[float, float]] = []
        self.last_stats: GuidanceStats | None = None

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, slots: Sequence[int] | None = None,
                        policy_normalizer: Normalizer | None = None,
                        device: str | torch.device = "cpu", **config: object
                        ) -> LatentGuidance:
        """Load a stage-2 checkpoint (``runs/align/stage2`` or its ``best/``).

        Keyword arguments beyond ``slots``, ``policy_normalizer`` and ``device`` set
        ``GuidanceConfig`` fields, e.g. ``lam=2.0, floor=1e-3`` for the paper's setting.
        """
        ckpt = resolve_checkpoint(Path(folder))
        meta = json.loads((ckpt / "config.json").read_text())
        saved = meta.get("slots", {})
        vae = ActionVAE.from_pretrained(ckpt).to(device)
        vae_slots = (EmbodimentSlots(tuple(saved["indices"]), int(saved["size"])) if saved
                     else None)
        norm_path = ckpt / "normalizer.json"
        vae_norm = Normalizer.load(norm_path) if norm_path.is_file() else None
        return cls(vae, GuidanceConfig(**config), slots=slots,  # type: ignore[arg-type]
                   vae_slots=vae_slots, policy_normalizer=policy_normalizer,
                   vae_normalizer=vae_norm)

    def to(self, device: str | torch.device) -> LatentGuidance:
        """Move the encoder (in place) and return self."""
        self.encoder.to(device)
        return self

    # -- the guidance vector ----------------------------------------------------------------
    def __call__(self, noisy: torch.Tensor, clean: torch.Tensor | None = None,
                 step_mask: torch.Tensor | None = None,
                 clean_latents: tuple[torch.Tensor, torch.Tensor] | None = None
                 ) -> torch.Tensor:
        """g = -grad_{noisy} ||E(noisy) - E(clean)||^2, masked to the target's slots.

        Args:
            noisy: (B, H, U) noisy chunks a_k (or a_tau) in the policy's units.
            clean: (B, H, U) the clean chunks a0 they were made from.
            step_mask: (B, H) bool, False at padded steps (not encoded).
            clean_latents: E(a0) as ``(mu, logvar)`` from ``clean_latents()``, instead of
                ``clean``: clean chunks do not change between epochs, so their latents can be
                computed once per dataset, leaving one encoder forward + backward per step.

        Returns:
            g, (B, H, U), unclamped and unscaled, exactly zero outside the target's slots;
            no autograd graph is kept (safe to use inside the policy's own loss).
        """
        param = next(self.encoder.parameters())
        x = noisy.detach().to(param.device, param.dtype).requires_grad_(True)
        steps = None if step_mask is None else step_mask.to(param.device)
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
            distance = sq.mean(-1) if self.config.distance == "mean" else sq.sum(-1)
            (grad,) = torch.autograd.grad(distance.sum(), x)
        g = (-grad).to(noisy.dtype).to(noisy.device)
        self._record(g, distance.detach())
        return g

    @torch.no_grad()
    def clean_latents(self, clean: torch.Tensor, step_mask: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """E(a0) without autograd: ``(mu, logvar)``, each (B, latent_dim)."""
        param = next(self.encoder.parameters())
        steps = None if step_mask is None else step_mask.to(param.device)
        return self._encode(clean.detach().to(param.device, param.dtype), steps)

    def _encode(self, chunks: torch.Tensor, steps: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        dims = chunks[..., self.slots] * self.scale.to(chunks) + self.offset.to(chunks)
        length = self.encoder.config.max_chunk_length
        if dims.shape[1] > length and self.config.length == "crop":
            dims, steps = dims[:, :length], None if steps is None else steps[:, :length]
        elif dims.shape[1] != length and self.config.length == "resample":
            dims = F.interpolate(dims.transpose(1, 2), size=length, mode="linear",
                                 align_corners=True).transpose(1, 2)
            steps = None
        return self.encoder.encode(self.vae_slots.place(dims), steps)

    def _record(self, g: torch.Tensor, distance: torch.Tensor) -> None:
        flat = g.flatten(1)
        clamped = clamp_guidance(g, self.config.clamp).flatten(1)
        c = self.config.clamp
        frac = ((flat.abs() > c).float().mean(1) if c is not None
                else torch.zeros(len(flat), device=g.device))
        self.last_stats = GuidanceStats(flat.norm(dim=1), clamped.norm(dim=1), frac, distance)

    # -- folding into a loss ----------------------------------------------------------------
    def loss(self, family: Family, pred: torch.Tensor, target: torch.Tensor, g: torch.Tensor,
             time: torch.Tensor | float, *, clean: torch.Tensor | None = None,
             mask: torch.Tensor | None = None, step_mask: torch.Tensor | None = None
             ) -> torch.Tensor:
        """``guided_loss`` with this object's lambda, clamp, sign and floor.

        ``mask`` defaults to the target's slots. With ``auto_fraction`` set, pass ``clean``
        (the a0 chunks) during the first ``auto_batches`` calls so lambda can be calibrated.
        """
        if mask is None:
            mask = torch.zeros(pred.shape[-1], dtype=torch.bool, device=pred.device)
            mask[self.slots] = True
        if self.config.auto_fraction is not None and len(self._calibration) < \
                self.config.auto_batches:
            self._calibrate(family, g, time, clean, mask)
        if self.last_stats is not None:
            with torch.no_grad():
                shift = target_shift(family, g, time, lam=self.lam, clamp=self.config.clamp,
                                     sign=self.config.sign, floor=self.config.floor)
                self.last_stats.shift_rms = masked_rms(shift, mask, step_mask)
                self.last_stats.clean_rms = (None if clean is None else
                                             masked_rms(clean.detach(), mask, step_mask))
        return guided_loss(family, pred, target, g, time, lam=self.lam,
                           clamp=self.config.clamp, sign=self.config.sign, mask=mask,
                           step_mask=step_mask, floor=self.config.floor)

    def _calibrate(self, family: Family, g: torch.Tensor, time: torch.Tensor | float,
                   clean: torch.Tensor | None, mask: torch.Tensor) -> None:
        if clean is None:
            raise ValueError("lam='auto' (auto_fraction) needs clean=a0 in loss() while it "
                             "calibrates")
        shift = target_shift(family, g, time, lam=1.0, clamp=self.config.clamp,
                             floor=self.config.floor)
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


def _affine(policy: Normalizer | None, vae: Normalizer | None, dim: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """scale, offset mapping policy-normalised units to encoder-normalised units."""
    if policy is None or vae is None:
        return torch.ones(dim), torch.zeros(dim)
    # raw = y_p * s_p + o_p ; y_v = (raw - o_v) / s_v
    scale = torch.as_tensor(policy.scale / vae.scale, dtype=torch.float32)
    offset = torch.as_tensor((policy.offset - vae.offset) / vae.scale, dtype=torch.float32)
    return scale, offset
