"""Success of direct fine-tuning's policies acting with sampling-time latent guidance, on the
same seeded episodes as their own bench evaluation, so the difference is paired and isolates
the guidance (same weights, only the sampler differs): docs/results.md, "Beyond the paper".

    python docs/results/sampling_guidance_eval.py runs/bench-mw-x0 --scale 10 \
        [--n 5] [--seeds 0 1 2] [--lengths 300 10000] [--workers 1]
    python docs/results/paired_arms.py runs/bench-mw-x0/metaworld/runs --n 5 \
        --pair direct_sampling-guide-sc10 direct

Each finished job of the bench's ``direct`` arm (with its policy) is evaluated on its targets
with the stage-2 encoder of its seed and a bank of its own training chunks' latents; the
record goes beside the bench's jobs as ``direct_sampling-guide-sc<scale>/<job>/eval.json``
(targets only: guidance toward the target's latents has no meaning on the pre-training
tasks). A job already recorded is skipped, so a killed run resumes; a missing direct job is
reported and skipped. The evaluation settings are the bench's defaults for Meta-World
(``SuiteConfig``); the episode seeds are checked against the direct job's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ate.bench.cache import kernels
from ate.bench.config import SuiteConfig
from ate.bench.rollout import evaluate


def job_folder(runs: Path, n: int, seed: int, steps: int, arm: str = "direct") -> Path:
    """A bench job of ``arm`` at ``steps``: ``n5-s0-k10000``, or ``n5-s0`` for the first
    length, whichever records that length."""
    for name in (f"n{n}-s{seed}-k{steps}", f"n{n}-s{seed}"):
        path = runs / arm / name / "eval.json"
        if path.exists() and json.loads(path.read_text())["steps"] == steps:
            return path.parent
    return runs / arm / f"n{n}-s{seed}-k{steps}"


def guided_record(direct: dict, job: Path, stage2: Path, scale: float, workers: int) -> dict:
    """Evaluate the direct job's policy with guidance on its own targets and episode seeds."""
    tasks = [e["task"] for e in direct["evals"]]
    episodes = len(direct["evals"][0]["outcomes"])
    bench = SuiteConfig()  # the Meta-World defaults the bench evaluated with
    start = time.perf_counter()
    results = evaluate(str(job / "policy"), "metaworld", tasks, episodes,
                       execute=bench.execute, workers=workers, max_steps=bench.max_steps,
                       batch=bench.eval_batch, sampling=(str(stage2), scale))
    for r, e in zip(results, direct["evals"], strict=True):
        if r.seeds != e["seeds"]:
            raise SystemExit(f"{job}: {r.task} was evaluated on other episode seeds than the "
                             "direct job; the difference would not be paired.")
    return {"arm": f"direct_sampling-guide-sc{scale:g}", "n": direct["n"],
            "seed": direct["seed"], "steps": direct["steps"],
            "eval_s": time.perf_counter() - start, "of": str(job),
            "sampling_guidance": {"stage2": str(stage2), "scale": scale},
            "inputs": direct.get("inputs"), "kernels": kernels(),
            "evals": [{"task": r.task, "robot": r.robot, "outcomes": r.outcomes,
                       "seeds": r.seeds} for r in results]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", type=Path)
    p.add_argument("--scale", type=float, required=True)
    p.add_argument("--n", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lengths", type=int, nargs="+", default=[300, 10000])
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    root = args.bench / "metaworld"
    for seed in args.seeds:
        for steps in args.lengths:
            job = job_folder(root / "runs", args.n, seed, steps)
            out = root / "runs" / f"direct_sampling-guide-sc{args.scale:g}" / job.name / "eval.json"
            if out.exists():
                continue
            if not (job / "eval.json").exists() or not (job / "policy").is_dir():
                print(f"{job}: not finished (no eval.json or policy); skipped", file=sys.stderr)
                continue
            direct = json.loads((job / "eval.json").read_text())
            stage2 = root / "align" / f"n{args.n}-s{seed}" / "stage2"
            record = guided_record(direct, job, stage2, args.scale, args.workers)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=1))
            tmp.replace(out)  # whole or absent: a killed run leaves no half record
            wins = sum(sum(e["outcomes"]) for e in record["evals"])
            total = sum(len(e["outcomes"]) for e in record["evals"])
            print(f"{out}: {wins} of {total} ({record['eval_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
