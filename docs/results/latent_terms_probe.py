"""How large the latent training terms are against the plain loss before fine-tuning starts
(docs/results.md, "Beyond the paper"): the pre-trained policy of a finished bench folder on
one target subset, over a few seeded batches of 64 chunks, at beta 1.

    python docs/results/latent_terms_probe.py runs/bench-mw [--n 5] [--seed 0] [--batches 5]

Prints per kind: the plain loss, the weighted term, the norm of the gradient of each on the
policy's weights, and the share of samples where the term is non-zero.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from ate.config import from_dict
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import _setup
from ate.steer.latent_loss import LatentLossConfig


def grad_norm(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return sum(float(g.pow(2).sum()) for g in grads if g is not None) ** 0.5


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", type=Path)
    p.add_argument("--n", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batches", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    root = args.bench / "metaworld"
    job = root / "runs" / "direct" / f"n{args.n}-s{args.seed}" / "eval.json"
    run = from_dict(PolicyRunConfig, json.loads(job.read_text())["run"], str(job))
    stage2 = next(root.glob(f"align*/n{args.n}-s{args.seed}/stage2"))
    for kind in ("consistency", "manifold"):
        cfg = replace(run, latent_loss=LatentLossConfig(kind=kind, beta=1.0),
                      latent_loss_from=str(stage2))
        data, policy, _, latent = _setup(cfg)
        params = [q for q in policy.parameters() if q.requires_grad]
        rows = []
        for i in range(args.batches):
            idx = [(i * 64 + j) % len(data.train) for j in range(64)]
            batch = data.train.__getitems__(idx)
            torch.manual_seed(i)
            plain = policy.compute_loss(batch, None, torch.Generator().manual_seed(i))
            torch.manual_seed(i)  # the same noise and times
            total = policy.compute_loss(batch, None, torch.Generator().manual_seed(i), latent)
            term = total - plain
            rows.append((plain.item(), term.item(), grad_norm(plain, params),
                         grad_norm(term, params), latent.last_stats["latent_active"]))
        mean = [sum(r[k] for r in rows) / len(rows) for k in range(5)]
        print(f"{kind}: plain loss {mean[0]:.4f}, term (beta 1) {mean[1]:.4f}, |grad plain| "
              f"{mean[2]:.3f}, |grad term| {mean[3]:.3f}, active on {mean[4]:.0%} of samples "
              f"(N = {args.n}, seed {args.seed}, {args.batches} batches of 64)")


if __name__ == "__main__":
    main()
