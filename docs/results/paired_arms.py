"""Paired differences between any two arms of a bench run, from its jobs' ``eval.json``.

The bench report pairs every arm with direct only; the questions of docs/results.md's "The
paper's regime" also need arm against arm (ATE against the tilted arm: does the latent
direction matter, or any displacement of that size? ATE against the single-stage VAE: does
the alignment?). Both arms were evaluated on the same seeded episodes, so the difference is
paired per (training seed, target, episode) and its interval is the bench's bootstrap
(training seeds, then episodes within each seed and target), only over the seeds both arms
finished.

Prints a markdown table (one row per pair, one column per fine-tuning length, targets and
retention tasks), each arm's successes per target and seed at the longest length, and each
arm's success per seed and length.

    python docs/results/paired_arms.py runs/bench-mw-x0/metaworld/runs --n 5 \\
        --pair ate_paper-release-lam2-x0 ate_tilted-release-lam2-x0 \\
        --pair ate_paper-release-lam2-x0 single_stage-release-lam2-x0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ate.bench.report import outcomes, paired_difference


def load_jobs(runs: Path, folder: str, n: int) -> list[dict]:
    """The finished jobs of one arm folder at N = ``n`` (their ``eval.json`` records, which
    carry seed and fine-tuning length), named by the folder (arm and tag)."""
    jobs = []
    for path in sorted((runs / folder).glob(f"n{n}-s*/eval.json")):
        job = json.loads(path.read_text())
        job["arm"] = folder
        jobs.append(job)
    return jobs


def cell(a: dict[int, list[np.ndarray]], b: dict[int, list[np.ndarray]]) -> str:
    """``+x.x [lo, hi] (k seeds)`` in points, or ``-`` when no seed is shared."""
    seeds = set(a) & set(b)
    if not seeds:
        return "-"
    point, lo, hi = paired_difference(a, b)
    return f"{100 * point:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] ({len(seeds)} seeds)"


def pair_rows(jobs: list[dict], pairs: list[tuple[str, str]], n: int,
              lengths: list[int]) -> list[str]:
    """Markdown rows ``a - b`` per pair: targets at each length, then retention tasks."""
    out = ["| pair | " + " | ".join(f"targets, {k:,}" for k in lengths) + " | "
           + " | ".join(f"retained, {k:,}" for k in lengths) + " |",
           "|---|" + "---|" * (2 * len(lengths))]
    for a, b in pairs:
        cells = [cell(outcomes(jobs, a, n, k, field), outcomes(jobs, b, n, k, field))
                 for field in ("evals", "retained") for k in lengths]
        out.append(f"| {a} - {b} | " + " | ".join(cells) + " |")
    return out


def per_target_rows(jobs: list[dict], arms: list[str], steps: int) -> list[str]:
    """Successes per target (one cell per arm: seed counts joined by ``/``) at ``steps``."""
    mine = [j for j in jobs if j["steps"] == steps]
    tasks = list(dict.fromkeys(e["task"] for j in mine for e in j["evals"]))
    seeds = sorted({j["seed"] for j in mine})
    out = [f"| target (seeds {' / '.join(map(str, seeds))}) | " + " | ".join(arms) + " |",
           "|---|" + "---|" * len(arms)]
    for task in tasks:
        cells = []
        for arm in arms:
            by_seed = {j["seed"]: int(sum(e["outcomes"])) for j in mine if j["arm"] == arm
                       for e in j["evals"] if e["task"] == task}
            cells.append(" / ".join(str(by_seed.get(s, "-")) for s in seeds))
        out.append(f"| {task} | " + " | ".join(cells) + " |")
    return out


def per_seed_rows(jobs: list[dict], arms: list[str], lengths: list[int]) -> list[str]:
    """Success per (seed, arm) at each length, targets then retention tasks, with the
    successes per task in brackets (``not run`` where the job is missing)."""
    def text(job: dict | None, field: str) -> str:
        if job is None or not job.get(field):
            return "not run"
        wins = [int(sum(e["outcomes"])) for e in job[field]]
        total = sum(len(e["outcomes"]) for e in job[field])
        return f"{sum(wins) / total:.1%} ({' / '.join(map(str, wins))})"

    cols = [(f, k) for f in ("evals", "retained") for k in lengths]
    out = ["| seed, arm | " + " | ".join(
        f"{'targets' if f == 'evals' else 'retained'}, {k:,}" for f, k in cols) + " |",
        "|---|" + "---|" * len(cols)]
    for seed in sorted({j["seed"] for j in jobs}):
        for arm in arms:
            mine = {j["steps"]: j for j in jobs if j["arm"] == arm and j["seed"] == seed}
            if mine:
                out.append(f"| {seed}, {arm} | "
                           + " | ".join(text(mine.get(k), f) for f, k in cols) + " |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="a bench suite's runs folder, "
                        "e.g. runs/bench-mw-x0/metaworld/runs")
    parser.add_argument("--n", type=int, default=5, help="demos per target")
    parser.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"), required=True,
                        help="two arm folders under RUNS; prints A - B (repeatable)")
    args = parser.parse_args()
    arms = list(dict.fromkeys(a for pair in args.pair for a in pair))
    missing = [a for a in arms if not (args.runs / a).is_dir()]
    if missing:
        print(f"{args.runs}: no arm folder {', '.join(missing)} (the folder names under "
              f"{args.runs} are the arm names to pass)", file=sys.stderr)
        return 1
    jobs = [j for arm in arms for j in load_jobs(args.runs, arm, args.n)]
    if not jobs:
        print(f"{args.runs}: no finished job (eval.json) at N = {args.n}", file=sys.stderr)
        return 1
    lengths = sorted({j["steps"] for j in jobs})
    print("\n".join(pair_rows(jobs, [tuple(p) for p in args.pair], args.n, lengths)))
    episodes = len(jobs[0]["evals"][0]["outcomes"])
    print(f"\nSuccesses per target and seed at {lengths[-1]:,} steps (of {episodes} per "
          "seed):\n")
    print("\n".join(per_target_rows(jobs, arms, lengths[-1])))
    print("\nPer seed (successes per task in brackets):\n")
    print("\n".join(per_seed_rows(jobs, arms, lengths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
