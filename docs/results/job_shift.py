"""Steer's displacement for finished bench jobs' own fine-tuning configs, without training:
as they ran, and with another guidance source in place of theirs (e.g. ``action-space``,
Steer with no VAE). The displacement is linear in lambda, so the ratio of the two means is
the lambda that gives the other source the jobs' displacement (how queue.sh's lambda 1.85
for the ``action_space`` arm was set).

    python docs/results/job_shift.py runs/bench-mw-x0/metaworld/runs/ate_paper-release-lam2-x0 \\
        --n 5 --seeds 0 1 2 3 4 --source action-space
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from ate.config import from_dict
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import steer_shift


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("arm", type=Path, help="a guided arm's folder under a bench's runs/")
    parser.add_argument("--n", type=int, default=5, help="demos per target")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--source", default="action-space",
                        help="the other guidance_from (a stage-2 folder or action-space)")
    args = parser.parse_args()
    ours, theirs = [], []
    for seed in args.seeds:
        record = args.arm / f"n{args.n}-s{seed}" / "eval.json"
        if not record.is_file():
            print(f"{record}: no finished job; run its bench first", file=sys.stderr)
            return 1
        run = from_dict(PolicyRunConfig, json.loads(record.read_text())["run"])
        if not run.guidance_from:
            print(f"{record}: an unguided job; pass a guided arm's folder", file=sys.stderr)
            return 1
        a, b = steer_shift(run), steer_shift(replace(run, guidance_from=args.source))
        ours.append(a.ratio)
        theirs.append(b.ratio)
        print(f"seed {seed}: as run {100 * a.ratio:.2f}%, {args.source} {100 * b.ratio:.2f}% "
              f"(lambda {b.lam:.3g}, cosine to noisy - clean "
              f"{b.to_dict()['noise_cosine']:+.3f})")
    mean_ours, mean_theirs = sum(ours) / len(ours), sum(theirs) / len(theirs)
    print(f"mean: as run {100 * mean_ours:.2f}%, {args.source} {100 * mean_theirs:.2f}%; "
          f"lambda for {args.source} at the jobs' displacement: "
          f"{b.lam * mean_ours / mean_theirs:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
