"""Steer's displacement on a finished bench folder's Meta-World subsets, without training.

    python docs/results/measure_shift.py runs/bench-mw [--n 5] [--lam 1]

For each seed's subset of N demos, the ATE arm's fine-tuning config (pre-trained policy,
stage-2 VAE, the suite's batch) is measured with ``ate.steer.shift.measure_shift`` under the
library's own form and the release preset. The displacement is linear in lambda in both
forms (lambda multiplies after the clamp), so one lambda gives every other; this is how the
lambdas of docs/results.md's release sweep were chosen.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ate.bench.cache import cache_key, pretrain_payload
from ate.bench.config import SuiteConfig
from ate.bench.demos import data_config, target_slots
from ate.bench.suite import policy_run
from ate.finetune.run import steer_shift
from ate.steer import GuidanceConfig

FORMS = {
    "floored (the earlier library default: sum, means, clamp then scale, floor 0.5)":
        GuidanceConfig(preset="floored"),
    "the earlier bench 'paper' setting (floored form with floor 0.05)":
        GuidanceConfig(latent="mean", distance="sum", order="clamp_then_scale", floor=0.05),
    "release arithmetic (the defaults)": GuidanceConfig(),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bench", type=Path)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--lam", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write every report here")
    args = parser.parse_args()
    cfg = SuiteConfig()
    folder = args.bench / "metaworld"
    key = cache_key(pretrain_payload(cfg, folder / "data" / "pretrain"))
    pre = args.bench / "cache" / f"policy-{key}"
    slots = target_slots(cfg, folder / "data" / "pool")
    rows = []
    for name, form in FORMS.items():
        for seed in cfg.seeds:
            subset = folder / "data" / "target" / f"n{args.n}-s{seed}"
            run = replace(policy_run(cfg, data_config(cfg, subset, 0.0, slots),
                                     cfg.finetune_steps, seed),
                          init_from=str(pre), guidance=replace(form, lam=args.lam),
                          guidance_from=str(folder / "align" / f"n{args.n}-s{seed}" / "stage2"))
            report = steer_shift(run)
            rows.append({"form": name, "seed": seed, **report.to_dict()})
            print(f"{name} | seed {seed} | lam {args.lam:g} | ratio {report.ratio:.4f} | "
                  f"by noise {[None if r is None else round(r, 4) for r in report.ratio_by_noise]}"
                  f" | clamp binds {report.clamped_fraction:.3f} | |g| {report.g_norm:.3g}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
