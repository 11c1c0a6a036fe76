"""Evaluation with environments kept between evaluations (``ate.sim.env_pool``) against
building them for every evaluation, as a bench worker did before: steps per second side by
side, and the episodes' outcomes compared one by one (keeping must change none).

A bench worker evaluates job after job on the same (task, robot): ``--jobs`` evaluations
of ``--episodes`` episodes in lock-step batches of ``--batch`` run back to back in one
process, once building fresh environments for each evaluation and once keeping them, the
two modes interleaved job by job so load on the machine hits both alike. The policy is a
trained one (``--policy``, e.g. a bench job's ``policy/best``: outcomes then vary) or a
bench-sized untrained flow policy (every episode fails and runs to the step limit).

    python benchmarks/env_reuse.py --suite robosuite --task Lift --robot UR5e \\
        [--policy runs/bench-rs/robosuite/runs/direct/n5-s0/policy/best] [--jobs 3]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from eval_batch import saved_policy

from ate.bench.rollout import evaluate_task
from ate.sim import env_pool


class StepCounter:
    """Counts ``step`` calls of every environment the pool hands out."""

    def __init__(self) -> None:
        self.steps = 0
        self._make = env_pool.make_env

        def counted(*args, **kwargs):
            env = self._make(*args, **kwargs)
            step = env.step

            def step_and_count(action):
                self.steps += 1
                return step(action)

            env.step = step_and_count
            return env

        env_pool.make_env = counted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="robosuite")
    p.add_argument("--task", default="Lift")
    p.add_argument("--robot", default="UR5e")
    p.add_argument("--policy", default=None)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--jobs", type=int, default=3)
    p.add_argument("--max-steps", type=int, default=None)
    args = p.parse_args()
    robot = args.robot if args.suite.startswith("robosuite") else None
    with tempfile.TemporaryDirectory() as tmp:
        policy = args.policy or saved_policy(args.suite, args.task, robot, Path(tmp) / "p")
        env_pool.environments(args.suite, args.task, robot, 1)  # imports, paid by neither
        env_pool.release()
        counter = StepCounter()
        spent = {"fresh": 0.0, "kept": 0.0}
        steps = {"fresh": 0, "kept": 0}
        outcomes: dict[str, list] = {"fresh": [], "kept": []}
        for _ in range(args.jobs):
            for mode in ("fresh", "kept"):
                if mode == "fresh":
                    env_pool.release()  # nothing kept: this evaluation builds its own
                before, tic = counter.steps, time.perf_counter()
                r = evaluate_task(policy, args.suite, args.task, args.episodes, 8,
                                  max_steps=args.max_steps, batch=args.batch, robot=robot)
                spent[mode] += time.perf_counter() - tic
                steps[mode] += counter.steps - before
                outcomes[mode].append(r.outcomes)  # "kept" reuses what "fresh" ran
    print(f"{args.suite} {args.task} {robot or ''}: {args.jobs} evaluations x "
          f"{args.episodes} episodes, batch {args.batch}; {platform.processor() or 'cpu'}")
    for mode in ("fresh", "kept"):
        print(f"  {mode:5s}: {spent[mode]:6.1f} s, {steps[mode]} env steps, "
              f"{steps[mode] / spent[mode]:6.1f} steps/s")
    print(f"  kept / fresh wall time: {spent['kept'] / spent['fresh']:.2f}")
    same = outcomes["fresh"] == outcomes["kept"]
    print(f"  outcomes identical episode by episode: {same} "
          f"(successes {sum(map(sum, outcomes['fresh']))} / {sum(map(sum, outcomes['kept']))}"
          f" of {args.jobs * args.episodes})")


if __name__ == "__main__":
    main()
