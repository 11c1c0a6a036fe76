"""The alignment report: did stage 2 put the target's latents inside q_phi's mode?

Numbers (``report.json``): reconstruction error per split and per dim in action units;
mean negative log-likelihood of target latents under q_phi; MMD between target and
pre-training latents; the fraction of target latents inside q_phi's 95% highest-density
region; the same for a single-stage VAE (the paper's ablation) when one is given; and the
same for two negative controls made from the target's own chunks (``control_chunks``: the
steps shuffled in time, and uniform noise over each action dim's range), which no robot
would execute: unless q_phi finds them clearly less likely than the target, "inside a mode"
says nothing about the target's actions. Plots: a 2-D PCA of pre-training vs target
latents, log q_phi histograms (the controls included), per-dim errors.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import PCA

from ate.align.coverage import SAMPLE_CHUNKS, coverage, coverage_warnings
from ate.align.latents import encode_dataset
from ate.align.losses import mmd
from ate.align.prior import LatentPrior
from ate.align.stages import load_bank, resolve_stage1, saved_config
from ate.align.vae import ActionVAE
from ate.checkpoint import resolve_checkpoint
from ate.data.chunks import Batch, ChunkDataset, MixedChunkDataset, first_chunks, spaced_chunks
from ate.data.normalizer import Normalizer
from ate.data.prepare import prepare_chunks

log = logging.getLogger(__name__)

OUTSIDE_WARNING = 0.5  # below this fraction inside the 95% region, alignment failed
# a control chunk should cost at least this much more nll per latent dim than the target's
# own; on the Meta-World bench's Align uniform noise cost 0.035 nats/dim *less* (results.md)
CONTROL_MARGIN = 0.1
CONTROL_CHUNKS = 2048


@dataclass
class Latents:
    """Posterior means and log-variances of a set of chunks, (N, d) each."""

    mu: torch.Tensor
    logvar: torch.Tensor

    def samples(self, n: int, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.mu), generator=gen)[:n]
        eps = torch.randn((len(idx), self.mu.shape[1]), generator=gen)
        return self.mu[idx] + torch.exp(0.5 * self.logvar[idx]) * eps


def alignment_metrics(prior: LatentPrior, reference: Latents, latents: Latents,
                      level: float = 0.95, max_samples: int = 2000, seed: int = 0
                      ) -> dict[str, float]:
    """How well ``latents`` sit in ``prior`` (and near the pre-training ``reference``).

    Returns:
        ``nll``: mean -log q_phi(mu) in nats; ``nll_per_dim``: that / d; ``mmd``: unbiased
        IMQ MMD between posterior samples of ``latents`` and of ``reference``;
        ``inside_region``: fraction of means inside q_phi's ``level`` highest-density region.
    """
    with torch.no_grad():
        log_p = prior.log_prob(latents.mu)
        threshold = prior.region_log_density(level, seed=seed)
        div = mmd(latents.samples(max_samples, seed), reference.samples(max_samples, seed + 1),
                  unbiased=True)
    d = latents.mu.shape[1]
    return {"nll": float(-log_p.mean()), "nll_per_dim": float(-log_p.mean() / d),
            "mmd": float(div), "inside_region": float((log_p >= threshold).float().mean()),
            "count": len(latents.mu)}


@torch.no_grad()
def reconstruction_error(vae: ActionVAE, dataset: ChunkDataset, normalizer: Normalizer,
                         batch_size: int = 256) -> dict[str, list[float] | float]:
    """Mean absolute and RMS error per action dim, in the data's own units, z = mu."""
    vae.eval()
    idx = dataset.slots.indices
    abs_sum = np.zeros(len(idx))
    sq_sum = np.zeros(len(idx))
    count = 0
    for start in range(0, len(dataset), batch_size):
        batch = dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))
        mu, _ = vae.encode(batch["action"], batch["step_mask"])
        recon = vae.decode(mu, batch["action"].shape[1])
        keep = batch["step_mask"].numpy()
        pred = normalizer.inverse(recon[..., list(idx)].double().numpy())[keep]
        true = normalizer.inverse(batch["action"][..., list(idx)].double().numpy())[keep]
        abs_sum += np.abs(pred - true).sum(0)
        sq_sum += ((pred - true) ** 2).sum(0)
        count += len(pred)
    mae = abs_sum / max(count, 1)
    return {"mae_per_dim": mae.tolist(), "rmse_per_dim": np.sqrt(sq_sum / max(count, 1)).tolist(),
            "mae": float(mae.mean())}


def verdict(metrics: dict[str, dict[str, float]],
            controls: dict[str, dict[str, float]] | None = None) -> list[str]:
    """Human warnings for the report (empty when alignment looks sound); ``controls``: the
    metrics of the negative controls (``control_chunks``)."""
    warnings = []
    aligned = metrics.get("aligned")
    reference = metrics.get("pretraining_reference")
    narrow = reference is not None and reference["inside_region"] < OUTSIDE_WARNING
    if narrow:
        # a q_phi fit to the pre-training latents should hold about 95% of them in its 95%
        # region; one that holds few is narrower than they are, and "outside" then means
        # "away from its centre", not "away from pre-training"
        warnings.append(
            f"q_phi holds only {reference['inside_region']:.0%} of the pre-training latents "
            "it was fit to inside its 95% region (about 95% expected): it is narrower than "
            "they are (prior.kind=release takes the mean of the posterior stds and ignores "
            "the spread of the means), so the target's place in that region says nothing "
            "about a mode. Read the alignment with prior.kind=gaussian or mixture.")
    if aligned and aligned["inside_region"] < OUTSIDE_WARNING and not narrow:
        warnings.append(
            f"only {aligned['inside_region']:.0%} of the target latents lie inside q_phi's 95% "
            "region: the pre-training corpus may have no mode near this robot (the paper's "
            "stated failure case), and guidance would pull toward the wrong place. Try a "
            "stronger pull (loss.kl_weight, loss.kl_reduction=sum_dims, "
            "adapt.mmd_reference=bank) or a prior with modes (prior.kind=mixture).")
    single = metrics.get("single_stage")
    if aligned and single and aligned["nll"] >= single["nll"]:
        warnings.append("the aligned target latents are no more likely under q_phi than a "
                        "single-stage VAE's: stage 2 did not align.")
    for name, control in (controls or {}).items():
        if aligned and control["nll_per_dim"] - aligned["nll_per_dim"] < CONTROL_MARGIN:
            warnings.append(
                f"q_phi does not tell the target's chunks from {name} chunks (nll "
                f"{control['nll_per_dim']:.3f} against {aligned['nll_per_dim']:.3f} nats per "
                f"latent dim; {control['inside_region']:.0%} against "
                f"{aligned['inside_region']:.0%} inside the 95% region): here 'inside a mode' "
                "does not mean 'a plausible motion', so these alignment numbers, and a term "
                "built on q_phi's density (latent_loss manifold), cannot vouch for actions.")
    return warnings


def control_chunks(target: Batch, seed: int = 0) -> dict[str, torch.Tensor]:
    """Negative controls from a sample of the target's chunks (``action`` (N, H, U) and
    ``action_mask``; the report's is ``first_chunks`` of its splits): ``time-shuffled`` (each
    chunk's H steps in one fixed random order: every action value kept, the motion
    destroyed) and ``uniform noise`` (uniform over each real dim's range in those chunks,
    zero elsewhere)."""
    x = target["action"]
    real = target["action_mask"][0].to(x.dtype)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.shape[1], generator=gen)
    lo, hi = x.amin((0, 1)), x.amax((0, 1))
    noise = (lo + (hi - lo) * torch.rand(x.shape, generator=gen)) * real
    return {"time-shuffled": x[:, order], "uniform noise": noise}


@torch.no_grad()
def encode_chunks(vae: ActionVAE, chunks: torch.Tensor, batch_size: int = 256) -> Latents:
    """Posterior means and log-variances of chunks (N, H, U), every step real."""
    vae.eval()
    device = next(vae.parameters()).device
    parts = [vae.encode(chunks[i:i + batch_size].to(device)) for i in
             range(0, len(chunks), batch_size)]
    return Latents(torch.cat([p[0].cpu() for p in parts]), torch.cat([p[1].cpu() for p in parts]))


def plot_report(out: Path, reference: Latents, sets: dict[str, Latents], prior: LatentPrior,
                recon: dict[str, dict], seed: int = 0,
                controls: dict[str, Latents] | None = None) -> list[Path]:
    """Write pca.png, log_density.png (with the ``controls``' densities) and
    recon_per_dim.png; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    pca = PCA(2, random_state=seed).fit(reference.mu.numpy())
    fig, ax = plt.subplots(figsize=(6, 5))
    ref = pca.transform(reference.mu.numpy())
    ax.scatter(ref[:, 0], ref[:, 1], s=4, c="0.7", label="pre-training (stage 1)")
    for (name, lat), color in zip(sets.items(), ("tab:blue", "tab:orange"), strict=False):
        p = pca.transform(lat.mu.numpy())
        ax.scatter(p[:, 0], p[:, 1], s=6, c=color, label=f"target, {name}", alpha=0.7)
    ax.set(title="latents, PCA of the pre-training latents", xlabel="PC 1", ylabel="PC 2")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "pca.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    with torch.no_grad():
        threshold = prior.region_log_density(0.95, seed=seed)
        series = {"pre-training": prior.log_prob(reference.mu)}
        series.update({f"target, {k}": prior.log_prob(v.mu) for k, v in sets.items()})
        series.update({f"control: {k}": prior.log_prob(v.mu)
                       for k, v in (controls or {}).items()})
    # the range follows the pre-training and aligned latents; far-off values pile at the edge
    core = torch.cat(list(series.values())[:2])
    lo, hi = float(core.quantile(0.01)), float(torch.cat(list(series.values())).max())
    lo = min(lo, threshold) - 0.1 * (hi - lo)
    for name, lp in series.items():
        # clipped in float64: a float32 value clamped to lo rounds to just below it and
        # falls outside the range, which emptied (and warned about) a far-off series
        values = np.clip(lp.double().numpy(), lo, hi)
        if len(values):
            ax.hist(values, bins=50, range=(lo, hi), alpha=0.5, label=name, density=True)
    ax.axvline(threshold, color="k", ls="--", label="95% region edge")
    ax.set(title=f"log q_phi(mu) (values below {lo:.0f} shown at the left edge)",
           xlabel="nats")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "log_density.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / max(len(recon), 1)
    for i, (name, r) in enumerate(recon.items()):
        mae = r["mae_per_dim"]
        ax.bar(np.arange(len(mae)) + i * width, mae, width, label=name)
    ax.set(title="reconstruction MAE per action dim (data units)", xlabel="action dim")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "recon_per_dim.png", dpi=120)
    plt.close(fig)
    return [out / "pca.png", out / "log_density.png", out / "recon_per_dim.png"]


def write_report(out: Path, report: dict[str, object]) -> Path:
    """``report.json`` (atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out / "report.json")
    return out / "report.json"


def encode_all(vae: ActionVAE, datasets: list[ChunkDataset], seed: int = 0) -> Latents:
    """Latents of the chunks of several datasets, concatenated."""
    parts = [encode_dataset(vae, ds, seed=seed) for ds in datasets]
    return Latents(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))


def pretraining_splits(stage1: Path) -> dict[str, tuple[ChunkDataset | MixedChunkDataset,
                                                       Normalizer]]:
    """Each pre-training dataset of stage 1 still on disk: its val split (else train) and
    normaliser, keyed ``pre-training val`` (one dataset) or ``pre-training val (PATH)`` (a
    corpus)."""
    saved = saved_config(stage1)
    configs = [c for c in (saved.pretrain_data, *saved.pretrain_extra) if Path(c.path).exists()]
    out = {}
    for cfg in configs:
        pre = prepare_chunks(cfg)
        key = "pre-training val" if pre.val else "pre-training train"
        key += f" ({cfg.path})" if saved.pretrain_extra else ""
        out[key] = (pre.val or pre.train, pre.normalizer)
    return out


def stage1_coverage(vae: ActionVAE, pretraining: list[ChunkDataset | MixedChunkDataset],
                    target: Batch, controls: dict[str, torch.Tensor]) -> dict | None:
    """``coverage`` of the target by the stage-1 VAE ``vae``, or None when the target's
    unified action size is not the VAE's (nothing to compare)."""
    if target["action"].shape[-1] != vae.config.action_dim:
        log.info("coverage skipped: the target has %d action slots, stage 1 %d",
                 target["action"].shape[-1], vae.config.action_dim)
        return None
    parts = [spaced_chunks(ds, SAMPLE_CHUNKS // max(len(pretraining), 1))
             for ds in pretraining]
    pre = ({k: torch.cat([p[k] for p in parts]) for k in ("action", "step_mask", "action_mask")}
           if parts else None)
    return coverage(vae, target, controls, pre)


def target_sample(splits: list[ChunkDataset]) -> Batch:
    """The target chunks the report's controls and coverage read: the first
    ``CONTROL_CHUNKS`` of the target's splits, in order."""
    return first_chunks(MixedChunkDataset(splits), CONTROL_CHUNKS)


def target_coverage(stage1: Path, stage2: Path, seed: int = 0) -> dict | None:
    """The report's ``coverage`` alone (no plots, no latents), of the target stage 2 was
    trained on, with its ``warnings``: what ``ate bench`` records beside each Align.

    Args:
        stage1: stage-1 run or checkpoint folder (its pre-training data still on disk).
        stage2: stage-2 run or checkpoint folder.
        seed: seed of the controls.

    Returns:
        ``coverage``'s RMS values (normalised units) and ratio, plus ``warnings`` (a list of
        lines); None when the target's slots are not stage 1's.
    """
    s1, s2 = resolve_stage1(stage1), resolve_checkpoint(stage2)
    target = prepare_chunks(saved_config(s2).target_data)
    sample = target_sample([target.train, *([target.val] if target.val else [])])
    pre = pretraining_splits(s1)
    cover = stage1_coverage(ActionVAE.from_pretrained(s1), [ds for ds, _ in pre.values()],
                            sample, control_chunks(sample, seed))
    return None if cover is None else {**cover, "warnings": coverage_warnings(cover)}


def build_report(stage1: Path, stage2: Path, out: Path, single: Path | None = None,
                 target_path: str | None = None, seed: int = 0) -> dict[str, object]:
    """Compute every number and plot of the report from checkpoint folders.

    Args:
        stage1: stage-1 run or checkpoint folder (with the prior and latent bank).
        stage2: stage-2 run or checkpoint folder.
        out: where report.json and the plots go.
        single: optional single-stage VAE (trained on the target alone) for the ablation.
        target_path: the target dataset; default: the one stage 2 was trained on.
    """
    s1 = resolve_stage1(stage1)
    s2 = resolve_checkpoint(stage2)
    prior = LatentPrior.load(s1 / "prior.safetensors")
    reference = Latents(*load_bank(s1))
    target_cfg = saved_config(s2).target_data
    if target_path:
        target_cfg.path = target_path
    target = prepare_chunks(target_cfg)
    splits = {"train": target.train, **({"val": target.val} if target.val else {})}
    models = {"aligned": ActionVAE.from_pretrained(s2)}
    if single is not None:
        models["single_stage"] = ActionVAE.from_pretrained(resolve_checkpoint(single))
    latents = {name: encode_all(vae, list(splits.values()), seed) for name, vae in
               models.items()}
    metrics = {name: alignment_metrics(prior, reference, lat, seed=seed)
               for name, lat in latents.items()}
    metrics["pretraining_reference"] = alignment_metrics(prior, reference, reference, seed=seed)
    sample = target_sample(list(splits.values()))
    control_sets = control_chunks(sample, seed)
    control_latents = {name: encode_chunks(models["aligned"], chunks) for name, chunks in
                       control_sets.items()}
    controls = {name: alignment_metrics(prior, reference, lat, seed=seed)
                for name, lat in control_latents.items()}
    recon = {f"target {split}": reconstruction_error(models["aligned"], ds, target.normalizer)
             for split, ds in splits.items()}
    stage1_vae = ActionVAE.from_pretrained(s1)
    pre = pretraining_splits(s1)
    recon.update({key: reconstruction_error(stage1_vae, ds, norm)
                  for key, (ds, norm) in pre.items()})
    cover = stage1_coverage(stage1_vae, [ds for ds, _ in pre.values()], sample, control_sets)
    report = {
        "stage1": str(s1), "stage2": str(s2), "single_stage": str(single) if single else None,
        "target_data": target_cfg.path, "prior": {"kind": prior.kind,
                                                  "components": prior.num_components,
                                                  "latent_dim": prior.latent_dim},
        "latents": metrics, "controls": controls, "reconstruction": recon,
        "coverage": cover,
        "warnings": verdict(metrics, controls) + (coverage_warnings(cover) if cover else []),
    }
    report["plots"] = [str(p) for p in plot_report(out, reference, latents, prior, recon, seed,
                                                   control_latents)]
    report["path"] = str(write_report(out, report))
    for w in report["warnings"]:
        log.warning(w)
    return report
