"""Closed-loop evaluation of a chunk policy in a ``RolloutEnv``, parallel over processes.

The policy sees the last ``obs_horizon`` observations (the first one repeated at the start),
predicts a chunk of H actions and the first ``execute`` of them are executed before it is
asked again (receding horizon, as Diffusion Policy). Evaluation seeds start at
``EVAL_SEED_BASE``, disjoint from every demo seed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ate.bench.stats import success_interval
from ate.policies import GenerativePolicy
from ate.sim.env import RolloutEnv
from ate.sim.generate import EVAL_SEED_BASE, make_env
from ate.sim.parallel import map_processes


@dataclass
class TaskResult:
    """Success of one task over its evaluation episodes."""

    task: str
    successes: int
    episodes: int

    @property
    def rate(self) -> float:
        """Share of successful episodes."""
        return self.successes / self.episodes if self.episodes else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """Exact 95% interval of the rate."""
        return success_interval(self.successes, self.episodes)


def run_episode(env: RolloutEnv, policy: GenerativePolicy, task_id: int, seed: int,
                execute: int) -> bool:
    """One closed-loop episode of a ``GenerativePolicy``; True on success."""
    obs = env.reset(seed)
    horizon = max(policy.config.obs_horizon, 1)
    history = deque([obs] * horizon, maxlen=horizon)
    gen = torch.Generator().manual_seed(seed)
    steps = 0
    while steps < env.max_steps:
        o = torch.as_tensor(np.stack(history))[None] if policy.config.obs_dim else None
        task = torch.tensor([task_id]) if policy.config.num_tasks else None
        chunk = policy.act(o, task, batch=1, generator=gen)[0].numpy()
        for action in chunk[:execute]:
            obs, success, done = env.step(action)
            history.append(obs)
            steps += 1
            if success:
                return True
            if done:
                return False
    return False


def evaluate_task(policy_dir: str, suite: str, task: str, episodes: int, execute: int,
                  first_seed: int = EVAL_SEED_BASE, max_steps: int | None = None
                  ) -> TaskResult:
    """Success of a saved policy on one task over ``episodes`` seeded episodes."""
    torch.set_num_threads(1)
    policy = GenerativePolicy.from_pretrained(Path(policy_dir))
    env = make_env(suite, task)
    if max_steps:
        env.max_steps = max_steps
    task_id = policy.task_names.index(task) if task in policy.task_names else -1
    wins = sum(run_episode(env, policy, task_id, first_seed + i, execute)
               for i in range(episodes))
    return TaskResult(task, int(wins), episodes)


def evaluate(policy_dir: str, suite: str, tasks: Sequence[str], episodes: int,
             execute: int = 8, workers: int = 1, max_steps: int | None = None
             ) -> list[TaskResult]:
    """``evaluate_task`` for every task, ``workers`` processes at a time."""
    calls = [(policy_dir, suite, t, episodes, execute, EVAL_SEED_BASE, max_steps) for t in tasks]
    return map_processes(evaluate_task, calls, workers)
