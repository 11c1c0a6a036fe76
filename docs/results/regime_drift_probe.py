"""Where the fine-tuned policies of the paper's-regime runs went (docs/results.md, "The paper's
regime"): drift away from the pre-trained policy on pre-training tasks, and the place of their
target actions in the aligned latent space, per arm, seed and fine-tuning length.

    python docs/results/regime_drift_probe.py runs/bench-mw [--n 5] [--lengths 300 3000 10000]
        [--arms direct ate_paper-release-lam2 single_stage-release-lam2] [--windows 200]
        [--out docs/results/regime-drift-n5.json] [--merge EARLIER.json]

On fixed windows of the expert demos (the fine-tuning data only for ``fit_*``), with one fixed
sampling noise shared by every policy, in the policies' normalised action units:
- retention tasks (the bench's 5, demos of pre-training): ``drift``, the RMS between a
  fine-tuned policy's sampled chunk and the pre-trained policy's from the same noise and
  observation (the fine-tuned weights in the pre-trained units, as the bench's retention
  evaluation); ``err``, the RMS from the expert's chunk (the pre-trained policy's own is
  printed as the ``pre-trained`` row);
- the demos each policy was fine-tuned on (its seed's N-demo subset): ``fit_err``, the RMS
  of its sampled chunk from the demo's, and ``fit_loss``, the plain loss there (one fixed
  draw of noise and times; ``val_loss`` the same on the validation demos): how closely it
  memorised what it saw, beside how it does on what it did not;
- target tasks (the bench's 10 validation demos per target): ``err`` likewise, and ``nll``,
  the mean -log q_phi(E(chunk)) / d of the sampled chunks (E the stage-2 encoder of that
  seed's Align, q_phi its stage-1 prior: the paper's "pre-training manifold"), beside the
  experts' own chunks' (``nll_demo``) and, for its scale, the same chunks with their steps
  shuffled in time (``nll_shuffled``: every action value kept, the motion destroyed); and
  ``recon``, the RMS reconstruction error of the stage-1 (pre-training) VAE in its own units
  (``recon_demo``, ``recon_shuffled`` likewise): a chunk off the pre-training actions'
  manifold reconstructs worse. ``*_uniform``: chunks of uniform noise over the policy's
  normalised range [-1, 1], a chunk no robot would execute.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from ate.align.prior import LatentPrior
from ate.checkpoint import resolve_checkpoint
from ate.data.chunks import ChunkDataset
from ate.data.load import load_episodes
from ate.policies import GenerativePolicy
from ate.steer.chunk_encoder import PolicyChunkEncoder
from ate.steer.latent_loss import stage1_prior_file

RETENTION = ("reach-v3", "push-v3", "pick-place-v3", "door-open-v3", "drawer-close-v3")
OBS_KEY = "observations/state"


def windows(folders: list[Path], policy: GenerativePolicy, units: GenerativePolicy, per: int
            ) -> dict[str, torch.Tensor]:
    """``per`` evenly spaced windows of each folder's demos, in ``units``' normalised units,
    with task ids of ``policy``."""
    parts = []
    for folder in folders:
        episodes = load_episodes(folder, obs_key=OBS_KEY)
        name = episodes.task_names[0]
        data = ChunkDataset(episodes, policy.config.chunk_length, normalizer=units.normalizer,
                            obs_horizon=policy.config.obs_horizon,
                            obs_normalizer=units.obs_normalizer,
                            task_ids={name: policy.task_names.index(name)})
        idx = np.linspace(0, len(data) - 1, per).round().astype(int).tolist()
        parts.append(data.__getitems__(idx))
    return {k: torch.cat([p[k] for p in parts]) for k in ("action", "obs", "task", "step_mask")}


def task_folders(folder: Path) -> list[Path]:
    """The per-task demo folders of a bench data folder, in name order."""
    return sorted(d for d in folder.iterdir() if d.is_dir())


def sample(policy: GenerativePolicy, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, H, U) normalised chunks from one fixed noise."""
    policy.eval()
    return policy.sample(policy.cond(batch["obs"], batch["task"]), len(batch["obs"]),
                         torch.Generator().manual_seed(0))


def plain_loss(policy: GenerativePolicy, batch: dict[str, torch.Tensor]) -> float:
    """The plain (unguided) training loss on ``batch`` with one fixed draw of noise and
    times, so every policy is scored on the same corruptions."""
    policy.eval()
    with torch.no_grad():
        return float(policy.compute_loss(batch, None, torch.Generator().manual_seed(0)))


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean().sqrt())


def nll(view: PolicyChunkEncoder, prior: LatentPrior, chunks: torch.Tensor) -> float:
    with torch.no_grad():
        mu, _ = view(chunks)
        return float((-prior.log_prob(mu) / mu.shape[-1]).mean())


def shuffled(chunks: torch.Tensor) -> torch.Tensor:
    """Each chunk's steps in a fixed random order."""
    order = torch.randperm(chunks.shape[1], generator=torch.Generator().manual_seed(0))
    return chunks[:, order]


def uniform(like: torch.Tensor) -> torch.Tensor:
    """Fixed uniform noise in [-1, 1], shaped like ``like``."""
    return torch.rand(like.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1


def recon(view: PolicyChunkEncoder, chunks: torch.Tensor) -> float:
    """RMS of (decode(E(x)) - x) over the VAE's dims, in its own normalised units."""
    with torch.no_grad():
        dims = chunks[..., view.slots] * view.scale + view.offset
        mu, _ = view.encoder.encode(view.vae_slots.place(dims))
        out = view.encoder.decode(mu, dims.shape[1])[..., view.vae_slots.indices]
        return float((out - dims).pow(2).mean().sqrt())


def load(folder: Path) -> GenerativePolicy:
    return GenerativePolicy.from_pretrained(resolve_checkpoint(folder))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", type=Path)
    p.add_argument("--n", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2],
                   help="none with --merge: only summarise the merged rows")
    p.add_argument("--lengths", type=int, nargs="+", default=[300, 3000, 10000])
    p.add_argument("--arms", nargs="+",
                   default=["direct", "ate_paper-release-lam2", "single_stage-release-lam2"])
    p.add_argument("--windows", type=int, default=200, help="per task")
    p.add_argument("--out", type=Path)
    p.add_argument("--merge", type=Path, help="an earlier --out whose rows (other seeds) "
                   "join these in the means and the new --out")
    args = p.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)  # "guidance from a stage-1 VAE": here on purpose
    root = args.bench / "metaworld"
    targets = task_folders(root / "data" / "val")
    rows = json.loads(args.merge.read_text())["rows"] if args.merge else []
    for seed in args.seeds:
        first = root / "runs" / "direct" / f"n{args.n}-s{seed}" / "eval.json"
        pre = load(Path(json.loads(first.read_text())["run"]["init_from"]))
        stage2 = root / "align" / f"n{args.n}-s{seed}" / "stage2"
        prior_file = stage1_prior_file(stage2, "")
        prior, stage1 = LatentPrior.load(prior_file), prior_file.parent
        kept = windows([root / "data" / "pretrain" / t for t in RETENTION], pre, pre,
                       args.windows)
        pre_kept = sample(pre, kept)
        rows.append({"arm": "pre-trained", "seed": seed, "steps": 0,
                     "retained_err": rms(pre_kept, kept["action"])})
        print(f"s{seed} pre-trained: retention err {rows[-1]['retained_err']:.4f}", flush=True)
        for arm in args.arms:
            for steps in args.lengths:
                job = root / "runs" / arm / (f"n{args.n}-s{seed}" if steps == 300
                                             else f"n{args.n}-s{seed}-k{steps}")
                if not (job / "eval.json").is_file():
                    print(f"s{seed} {arm} {steps}: not finished, skipped", flush=True)
                    continue
                policy = load(job / "policy")
                ft_kept = sample(policy, windows(
                    [root / "data" / "pretrain" / t for t in RETENTION], policy, pre,
                    args.windows))
                tgt = windows(targets, policy, policy, args.windows)
                ft_tgt = sample(policy, tgt)
                fit = windows(task_folders(root / "data" / "target" / f"n{args.n}-s{seed}"),
                              policy, policy, args.windows)
                view, view1 = (PolicyChunkEncoder.from_pretrained(
                    folder, slots=policy.slots.indices, policy_normalizer=policy.normalizer)
                    for folder in (stage2, stage1))
                rows.append({
                    "arm": arm, "seed": seed, "steps": steps,
                    "drift": rms(ft_kept, pre_kept),
                    "retained_err": rms(ft_kept, kept["action"]),
                    "target_err": rms(ft_tgt, tgt["action"]),
                    "fit_err": rms(sample(policy, fit), fit["action"]),
                    "fit_loss": plain_loss(policy, fit), "val_loss": plain_loss(policy, tgt),
                    "nll": nll(view, prior, ft_tgt), "nll_demo": nll(view, prior, tgt["action"]),
                    "nll_shuffled": nll(view, prior, shuffled(tgt["action"])),
                    "recon": recon(view1, ft_tgt), "recon_demo": recon(view1, tgt["action"]),
                    "recon_shuffled": recon(view1, shuffled(tgt["action"])),
                    "nll_uniform": nll(view, prior, uniform(tgt["action"])),
                    "recon_uniform": recon(view1, uniform(tgt["action"])),
                })
                print(f"s{seed} {arm} {steps}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in rows[-1].items()
                    if isinstance(v, float)), flush=True)
    rows = list({(r["arm"], r["seed"], r["steps"]): r for r in rows}.values())  # merged once
    summary = {}
    for arm in dict.fromkeys(r["arm"] for r in rows):
        for steps in sorted({r["steps"] for r in rows}):
            mine = [r for r in rows if r["arm"] == arm and r["steps"] == steps]
            if mine:
                summary[f"{arm}@{steps}"] = {
                    k: float(np.mean([r[k] for r in mine])) for k in mine[0]
                    if isinstance(mine[0][k], float)} | {"seeds": len(mine)}
    for key, values in summary.items():
        print(key, ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "mean": summary}, indent=1))


if __name__ == "__main__":
    main()
