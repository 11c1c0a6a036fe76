"""Simulator environments kept per process between evaluations.

Building an environment costs 0.3 s (Meta-World) to 1.9 s (robosuite), and an evaluation
steps ``batch`` of them in lock step for every (task, robot) of every job: a bench worker
that evaluates job after job built the same scenes over and over. A reset to a seed puts a
kept environment in exactly the state a fresh one reaches (checked bit for bit, on both
simulators, after arbitrary earlier episodes), so keeping them changes no outcome.

Memory bounds it: a robosuite scene holds about 170 MB (Meta-World 37 MB), so at most
``KEEP`` environments stay per process, the least recently used (task, robot) going first.
"""

from __future__ import annotations

import gc
from collections import OrderedDict

from ate.sim.env import RolloutEnv
from ate.sim.generate import make_env

KEEP = 24  # 24 robosuite scenes: about 4 GB per process
_kept: OrderedDict[tuple, list[RolloutEnv]] = OrderedDict()


def environments(suite: str, task: str, robot: str | None, count: int,
                 max_steps: int | None = None) -> list[RolloutEnv]:
    """``count`` environments of ``(suite, task, robot)`` with step limit ``max_steps``
    (None: the environment's own), reused from earlier calls in this process where there
    are some; reset each one to a seed before use."""
    key = (suite, task, robot, max_steps)
    envs = _kept.pop(key, [])
    while len(envs) < count:
        env = make_env(suite, task, robot)
        if max_steps:
            env.max_steps = max_steps
        envs.append(env)
    _kept[key] = envs
    while sum(len(v) for v in _kept.values()) > KEEP and len(_kept) > 1:
        _kept.popitem(last=False)
        # simulators sit in reference cycles, and the collector does not see the size of
        # the mujoco buffers they hold: collect now, or the process grows by gigabytes
        gc.collect()
    return envs[:count]


def release() -> None:
    """Drop every kept environment (and collect their memory)."""
    _kept.clear()
    gc.collect()
