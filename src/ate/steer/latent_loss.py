"""Latent losses whose gradient reaches the policy: terms added to the plain training loss.

Steer's g depends on the demo chunk, the noise and the time, never on the policy's weights,
so it can only displace the regression target. These terms read the policy's own output
instead: the clean chunk it implies at the true time, ``x0_hat`` (``implied_clean``), goes
through the frozen stage-2 encoder E (posterior means), and the gradient flows back through
E into the network. Neither term exists in the paper or the authors' release.

``consistency``: beta * w(t) * mean_d (E(x0_hat) - E(a0))^2, the latent distance between what
the policy implies and the demo it was noised from.

``manifold``: beta * w(t) * max(0, nll(E(x0_hat)) - h), nll = -log q_phi(z) / d in nats per
latent dim under the stage-1 prior q_phi (the pre-training actions' density in the aligned
space, where the target sits inside a mode): a penalty for implied chunks that leave the
pre-training manifold. The hinge h is a quantile of the target's own training chunks' nll,
so the term is silent on chunks as probable as the demos and does not pull them toward the
prior's mean.

w(t) (``time_weight``): ``signal`` is the signal share of the noisy sample (abar, tau or
1 - t; ``signal_level``), zero at the noise end where x0_hat is the conditional mean of the
demos (a blur that no single demo's latent matches) and one at the clean end; ``uniform``
is 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ate.align.prior import LatentPrior
from ate.data.chunks import ChunkDataset, MixedChunkDataset
from ate.data.normalizer import Normalizer
from ate.errors import ConfigError
from ate.steer.batch_rows import take_rows
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.clean_latents import CleanLatentTable
from ate.steer.objectives import Family, implied_clean, signal_level

log = logging.getLogger(__name__)

HINGE_CHUNKS = 4096  # target chunks the hinge's quantile is taken over (the first ones)


@dataclass
class LatentLossConfig:
    """A latent term added to the plain loss (used when a stage-2 folder is given).

    Attributes:
        kind: ``consistency`` (latent distance between the implied clean chunk and the
            demo's) or ``manifold`` (hinge on the implied chunk's nll under the stage-1
            prior q_phi).
        beta: the term's weight (>= 0; 0 leaves the plain loss bit for bit). Both terms are
            per-latent-dim means, so beta does not scale with the latent width.
        time_weight: ``signal`` (w = abar, tau or 1 - t) or ``uniform`` (w = 1).
        hinge_quantile: ``manifold``: h is this quantile (in (0, 1]) of the target training
            chunks' own nll per dim; 0.9 leaves 90% of the demos' chunks below the hinge.
        prior_from: ``manifold``: the stage-1 folder holding q_phi; empty = the one the
            stage-2 VAE was aligned to (as recorded in its config).
        length: as ``GuidanceConfig.length`` (policy chunks longer than the encoder's).
    """

    kind: Literal["consistency", "manifold"] = "consistency"
    beta: float = 1.0
    time_weight: Literal["signal", "uniform"] = "signal"
    hinge_quantile: float = 0.9
    prior_from: str = ""
    length: Literal["crop", "resample"] = "crop"

    def __post_init__(self) -> None:
        bad = [f"latent_loss.{name} = {value!r} ({rule})" for name, value, ok, rule in (
            ("beta", self.beta, self.beta >= 0, ">= 0"),
            ("hinge_quantile", self.hinge_quantile, 0 < self.hinge_quantile <= 1,
             "in (0, 1]")) if not ok]
        if bad:
            raise ConfigError("; ".join(bad) + ": out of range.")

    def describe(self) -> str:
        """One line for reports."""
        extra = f", hinge at the q{self.hinge_quantile:g}" if self.kind == "manifold" else ""
        return f"latent {self.kind} term, beta {self.beta:g}, {self.time_weight} weight{extra}"


def time_weight(family: Family, time: torch.Tensor | float, kind: str, batch: int
                ) -> torch.Tensor:
    """w(t) per sample, (B,): ``signal_level`` or ones."""
    if kind == "uniform":
        return torch.ones(batch)
    return signal_level(family, time).float().expand(batch)


def consistency_term(mu_hat: torch.Tensor, mu0: torch.Tensor) -> torch.Tensor:
    """Per sample (B,): mean over latent dims of (mu_hat - mu0)^2."""
    return (mu_hat - mu0).pow(2).mean(-1)


def manifold_term(mu_hat: torch.Tensor, prior: LatentPrior, hinge: float) -> torch.Tensor:
    """Per sample (B,): max(0, -log q_phi(mu_hat) / d - hinge), nats per latent dim."""
    nll = -prior.log_prob(mu_hat) / mu_hat.shape[-1]
    return (nll - hinge).clamp_min(0.0)


class LatentLoss:
    """The configured term for (prediction, noisy, clean, time) batches of one policy.

    Args:
        view: the frozen stage-2 encoder in the policy's units (``PolicyChunkEncoder``).
        config: see ``LatentLossConfig``.
        prior: q_phi, for ``manifold`` (frozen here).
    """

    def __init__(self, view: PolicyChunkEncoder, config: LatentLossConfig | None = None,
                 prior: LatentPrior | None = None) -> None:
        self.view, self.config = view, config or LatentLossConfig()
        if self.config.kind == "manifold" and prior is None:
            raise ConfigError("latent_loss.kind manifold needs the stage-1 prior q_phi.")
        self.prior = None if prior is None else prior.eval().requires_grad_(False)
        self.hinge: float | None = None
        self.last_stats: dict[str, float] = {}
        self.table: CleanLatentTable | None = None

    @classmethod
    def from_pretrained(cls, folder: str | Path, config: LatentLossConfig, *,
                        slots: list[int] | None = None,
                        policy_normalizer: Normalizer | None = None,
                        device: str | torch.device = "cpu") -> LatentLoss:
        """Load the stage-2 encoder of ``folder`` (and, for ``manifold``, the stage-1 prior
        of ``config.prior_from`` or of the folder stage 2 was aligned to)."""
        view = PolicyChunkEncoder.from_pretrained(folder, slots=slots,
                                                  policy_normalizer=policy_normalizer,
                                                  device=device, length=config.length)
        prior = None
        if config.kind == "manifold":
            prior = LatentPrior.load(stage1_prior_file(Path(folder), config.prior_from))
            prior.check_dim(view.encoder.config.latent_dim)
            prior = prior.to(device)
        return cls(view, config, prior)

    def to(self, device: str | torch.device) -> LatentLoss:
        """Move the encoder, prior and clean-latent table (in place) and return self."""
        self.view.to(device)
        for part in (self.prior, self.table):
            if part is not None:
                part.to(device)
        return self

    def cache_clean_latents(self, dataset: ChunkDataset | MixedChunkDataset) -> None:
        """``consistency``: encode the clean chunks of ``dataset`` (the training set) once
        (``CleanLatentTable``); calls given its batches' ``index`` then look E(a0) up."""
        if self.config.kind == "consistency":
            self.table = CleanLatentTable.build(self.view, dataset)

    @torch.no_grad()
    def calibrate_hinge(self, chunks: torch.Tensor, steps: torch.Tensor | None = None
                        ) -> float:
        """Set h from the target's clean chunks (N, H, U) (policy units) and return it: the
        ``hinge_quantile`` of their nll per latent dim under q_phi."""
        if self.prior is None:
            raise ConfigError("calibrate_hinge is for latent_loss.kind manifold.")
        mu, _ = self.view(chunks.to(self.view.device), None if steps is None
                          else steps.to(self.view.device))
        nll = -self.prior.log_prob(mu) / mu.shape[-1]
        self.hinge = float(torch.quantile(nll.double().cpu(), self.config.hinge_quantile))
        log.info("latent manifold term: hinge at %.4g nats/dim (q%.2g of %d target chunks; "
                 "their median %.4g)", self.hinge, self.config.hinge_quantile, len(nll),
                 float(nll.median()))
        return self.hinge

    def __call__(self, family: Family, pred: torch.Tensor, noisy: torch.Tensor,
                 clean: torch.Tensor, time: torch.Tensor | float,
                 step_mask: torch.Tensor | None = None, index: torch.Tensor | None = None,
                 rows: torch.Tensor | None = None) -> torch.Tensor:
        """beta * mean_B(w(t) * term): a scalar with the graph through ``pred``.

        Args:
            family: the policy's family (how ``pred`` implies a clean chunk).
            pred: (B, H, U) the network's output; noisy: (B, H, U) its input; clean:
                (B, H, U) the demo chunks; time: as ``guided_loss``; step_mask: (B, H);
                index: (B,) the chunks' window indices, to look E(a0) up in the table of
                ``cache_clean_latents`` (encoded here without one).
            rows: (B,) bool, the target robot's rows of a co-training batch: the term is
                zero on the others (another dataset's chunks) and still averaged over all B,
                so a target row weighs against its plain loss as in a target-only batch.
        """
        cfg = self.config
        if cfg.beta == 0:
            return pred.new_zeros(())
        if rows is not None:
            if not rows.any():
                return pred.new_zeros(())
            pred_r, noisy_r, clean_r, time_r, steps_r, index_r = (
                take_rows(rows, x) for x in (pred, noisy, clean, time, step_mask, index))
            return (self(family, pred_r, noisy_r, clean_r, time_r, steps_r, index_r)
                    * (int(rows.sum()) / len(rows)))
        device = self.view.device
        x0_hat = implied_clean(family, pred, noisy, time)
        steps = None if step_mask is None else step_mask.to(device)
        mu_hat, _ = self.view(x0_hat.to(device), steps)
        if cfg.kind == "consistency":
            if index is not None and self.table is not None:
                mu0 = self.table.lookup(index, clean, step_mask)[0]
            else:
                with torch.no_grad():
                    mu0, _ = self.view(clean.detach().to(device), steps)
            per = consistency_term(mu_hat, mu0)
        else:
            if self.hinge is None:
                raise ConfigError("the manifold term's hinge is not set: call calibrate_hinge "
                                  "on the target's training chunks first.")
            per = manifold_term(mu_hat, self.prior, self.hinge)
        w = time_weight(family, time, cfg.time_weight, len(pred)).to(per)
        self.last_stats = {"latent_term": float(per.detach().mean()),
                           "latent_active": float((per.detach() > 0).float().mean())}
        return (cfg.beta * (w * per).mean()).to(pred.device)


def stage1_prior_file(stage2: Path, prior_from: str) -> Path:
    """q_phi's file: in ``prior_from``, else in the stage-1 folder recorded by ``stage2``."""
    from ate.align.stages import PRIOR_FILE, resolve_stage1, saved_config
    from ate.checkpoint import resolve_checkpoint

    if not prior_from:
        prior_from = saved_config(resolve_checkpoint(stage2)).prior_from
        if not prior_from:
            raise ConfigError(f"{stage2}: its config records no stage-1 folder (a single-stage "
                              "VAE?); pass --latent-loss.prior-from STAGE1.")
        if not Path(prior_from).exists():
            raise ConfigError(f"{stage2}: it was aligned to {prior_from}, which is not there "
                              "(run from another folder?); pass --latent-loss.prior-from "
                              "STAGE1.")
    return resolve_stage1(Path(prior_from)) / PRIOR_FILE
