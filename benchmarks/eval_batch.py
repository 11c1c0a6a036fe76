"""Evaluation wall time against the lock-step batch size: building a simulator costs
0.04 s (Meta-World, after the task's first: its compiled model is copied) to 1.9 s
(robosuite), so a large batch can spend more on construction than its batched policy calls
save.

Measured (2026-11-21, 2 cores, a 1-thread training beside it; Meta-World door-lock-v3, 50
episodes of 200 steps): batch 10 / 25 / 50 = 19.4 / 18.6 / 17.8 s. Before the compiled
model was shared, batch 10 took 0.61 of batch 50's time.

A bench-sized flow policy (width 128, 4 layers, 10 Euler steps; untrained: the timing does
not depend on its weights, and an untrained policy fails, so every episode runs to the step
limit as most benchmark episodes do) is evaluated on one task with each batch size, the
sizes interleaved and repeated, in one process.

    python benchmarks/eval_batch.py [--suite metaworld] [--task door-lock-v3]
        [--episodes 50] [--batches 50 10] [--repeats 2] [--max-steps 200]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ate.bench.rollout import evaluate_task
from ate.data import EmbodimentSlots, Normalizer
from ate.policies import FlowPolicy, PolicyConfig
from ate.sim.generate import make_env


def saved_policy(suite: str, task: str, robot: str | None, folder: Path) -> str:
    env = make_env(suite, task, robot)
    torch.manual_seed(0)
    cfg = PolicyConfig(kind="flow", action_dim=env.action_dim, chunk_length=16,
                       obs_dim=env.obs_dim, obs_horizon=2, num_tasks=1, width=128, layers=4,
                       heads=4, inference_steps=10)
    rng = np.random.default_rng(0)
    policy = FlowPolicy(cfg, EmbodimentSlots.identity(env.action_dim),
                        Normalizer.fit(rng.normal(size=(100, env.action_dim))),
                        Normalizer.fit(rng.normal(size=(100, env.obs_dim))))
    policy.task_names = [task]
    policy.save_pretrained(folder)
    return str(folder)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="metaworld")
    p.add_argument("--task", default="door-lock-v3")
    p.add_argument("--robot", default=None)
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--batches", type=int, nargs="+", default=[50, 10])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--max-steps", type=int, default=200)
    args = p.parse_args()
    torch.set_num_threads(1)
    times: dict[int, list[float]] = {b: [] for b in args.batches}
    with tempfile.TemporaryDirectory() as tmp:
        policy = saved_policy(args.suite, args.task, args.robot, Path(tmp) / "policy")
        for _ in range(args.repeats):
            for b in args.batches:
                tic = time.perf_counter()
                evaluate_task(policy, args.suite, args.task, args.episodes, 8,
                              max_steps=args.max_steps, batch=b, robot=args.robot)
                times[b].append(time.perf_counter() - tic)
    print(f"{platform.machine()}, torch {torch.__version__}, {args.suite} {args.task}, "
          f"{args.episodes} episodes of {args.max_steps} steps, 1 thread")
    base = min(times[args.batches[0]])
    for b in args.batches:
        best = min(times[b])
        print(f"batch {b:3d}: {best:6.1f} s (best of {args.repeats})  "
              f"time ratio to batch {args.batches[0]}: {best / base:.2f}")


if __name__ == "__main__":
    main()
