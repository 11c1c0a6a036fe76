"""How far sampling-time latent guidance moves a fine-tuned policy's chunks, per scale, before
any rollout (docs/results.md, "Beyond the paper"): a fine-tuned bench policy, its seed's
stage-2 encoder and a bank of its own training chunks' latents; 64 training windows sampled
with one seeded noise, with and without guidance.

    python docs/results/sampling_guidance_probe.py runs/bench-mw-x0 [--arm direct] [--n 5] \
        [--seed 0] [--steps 10000] [--scales 0.03 0.1 0.3 1]

Prints per scale: the displacement of the sampled chunks (RMS of guided - unguided, as a share
of the training chunks' RMS, normalised units), the RMS error to the demo's own chunk, and the
mean squared latent distance (per dimension) of the sampled chunks to the nearest bank
latent, beside the bank's own nearest-neighbour distance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from sampling_guidance_eval import job_folder  # docs/results, beside this script

from ate.bench.rollout import sampling_guide
from ate.config import from_dict
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import _setup
from ate.policies import GenerativePolicy


def rms(x: torch.Tensor) -> float:
    return float(x.pow(2).mean().sqrt())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", type=Path)
    p.add_argument("--arm", default="direct")
    p.add_argument("--n", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--scales", type=float, nargs="+", default=[0.03, 0.1, 0.3, 1.0])
    p.add_argument("--windows", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(1)
    root = args.bench / "metaworld"
    job = job_folder(root / "runs", args.n, args.seed, args.steps, args.arm)
    run = from_dict(PolicyRunConfig, json.loads((job / "eval.json").read_text())["run"],
                    str(job / "eval.json"))
    stage2 = str(next(root.glob(f"align*/n{args.n}-s{args.seed}/stage2")))
    policy = GenerativePolicy.from_pretrained(job / "policy" / "best").eval()
    data = _setup(run)[0]  # the windows in the units training saw
    stride = max(1, len(data.train) // args.windows)
    batch = data.train.__getitems__(list(range(0, stride * args.windows, stride)))
    a0 = batch["action"]
    cond = policy.cond(batch.get("obs"), batch.get("task"))
    plain = policy.sample(cond, len(a0), torch.Generator().manual_seed(0))
    base = rms(a0)
    print(f"{job}: {len(a0)} windows, chunk RMS {base:.3f} (normalised units); unguided: "
          f"error to the demo chunk {rms(plain - a0) / base:.1%}")
    bank = sampling_guide(policy, str(job / "policy"), stage2, 0.0).bank
    pairs = torch.cdist(bank, bank).fill_diagonal_(float("inf"))
    print(f"bank: {len(bank)} latents, nearest-neighbour distance "
          f"{float(pairs.min(1).values.pow(2).mean()) / bank.shape[1]:.4f}")
    for scale in args.scales:  # the bank encoded once, above
        guide = sampling_guide(policy, str(job / "policy"), stage2, scale, bank)
        guided = policy.sample(cond, len(a0), torch.Generator().manual_seed(0), guide)
        with torch.no_grad():
            dist = [float((mu - guide.nearest(mu)).pow(2).mean())
                    for mu in (guide.view(x)[0] for x in (plain, guided))]
        print(f"scale {scale:g}: displacement {rms(guided - plain) / base:.1%}, error to the "
              f"demo chunk {rms(guided - a0) / base:.1%}, latent distance to the nearest bank "
              f"latent {dist[0]:.4f} -> {dist[1]:.4f}")


if __name__ == "__main__":
    main()
