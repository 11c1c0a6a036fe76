"""Scripted-expert demonstrations, written as one HDF5 file per episode (release layout,
plus observations and the task name), resumable and parallel over tasks.

Layout: ``out/<task>/episode_<i>.hdf5`` with ``action`` (n, D), ``observations/state``
(n, S), root attributes ``task`` and ``seed``. Only successful episodes are kept. Demo seeds
are ``seed * 1_000_000 + task_index * 10_000 + attempt``; evaluation uses seeds from
``EVAL_SEED_BASE`` up, so the two never overlap.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ate.errors import ConfigError, SimulatorError
from ate.sim.env import RolloutEnv
from ate.sim.parallel import map_processes

log = logging.getLogger(__name__)

EVAL_SEED_BASE = 10**9
# robosuite-eef: the robosuite tasks with end-effector (OSC_POSE) actions instead of joints
SUITES = ("metaworld", "robosuite", "robosuite-eef")


@dataclass
class TaskReport:
    """How one task's generation went."""

    task: str
    kept: int
    attempts: int
    reused: int
    robot: str = ""
    total_attempts: int = 0

    @property
    def expert_success(self) -> float:
        """Share of the attempts of every run so far that the expert solved."""
        return self.kept / self.total_attempts if self.total_attempts else float("nan")


def make_env(suite: str, task: str, robot: str | None = None) -> RolloutEnv:
    """The wrapper of ``suite`` for ``task`` (and ``robot``, for the robosuite suites:
    ``robosuite`` acts in joint space, ``robosuite-eef`` in end-effector space)."""
    try:
        import mujoco  # noqa: F401
    except (ImportError, AttributeError, RuntimeError) as exc:  # a GL backend that is absent
        raise SimulatorError(
            f"mujoco does not import with MUJOCO_GL={os.environ.get('MUJOCO_GL')!r} ({exc}). "
            "Unset MUJOCO_GL to simulate without rendering, or install that backend's "
            "library (egl: libegl1, osmesa: libosmesa6).") from exc
    if suite == "metaworld":
        from ate.sim.metaworld_env import MetaWorldEnv

        return MetaWorldEnv(task)
    if suite in ("robosuite", "robosuite-eef"):
        from ate.sim.robosuite_env import RobosuiteEnv

        space = "eef" if suite == "robosuite-eef" else "joint"
        return RobosuiteEnv(task, robot or "Panda", action_space=space)
    raise ConfigError(f"suite {suite!r} unknown; available: {', '.join(SUITES)}")


def generate_task(suite: str, task: str, task_index: int, episodes: int, out: Path,
                  seed: int = 0, max_attempts: int | None = None, robot: str | None = None
                  ) -> TaskReport:
    """Write ``episodes`` successful expert demos of one task (episode files already there
    are kept and counted) to ``out/<task>`` or, with a robot, ``out/<robot>/<task>``."""
    folder = out / robot / task if robot else out / task
    folder.mkdir(parents=True, exist_ok=True)
    base = seed * 1_000_000 + task_index * 10_000
    existing = sorted(folder.glob("episode_*.hdf5"))
    reused = len(existing)
    first = 0  # a resumed run continues after the last seed it used
    for path in existing:
        with h5py.File(path, "r") as f:
            first = max(first, int(f.attrs.get("seed", base)) - base + 1)
    kept, attempts = reused, 0
    env = make_env(suite, task, robot)
    limit = max_attempts or 3 * episodes
    while kept < episodes and attempts < limit:
        demo_seed = base + first + attempts
        actions, observations, success = env.demonstrate(demo_seed)
        attempts += 1
        if not success:
            continue
        path = folder / f"episode_{kept}.hdf5"
        tmp = path.with_suffix(".hdf5.tmp")
        with h5py.File(tmp, "w") as f:
            f.create_dataset("action", data=actions.astype(np.float32))
            f.create_dataset("observations/state", data=observations.astype(np.float32))
            f.attrs["task"] = task
            f.attrs["seed"] = demo_seed
            if robot:
                f.attrs["robot"] = robot
        tmp.replace(path)
        kept += 1
    total = earlier_attempts(folder, first) + attempts
    stats = folder / "expert.json"
    stats.with_suffix(".tmp").write_text(json.dumps({"attempts": total, "kept": kept}))
    stats.with_suffix(".tmp").replace(stats)
    return TaskReport(task, kept, attempts, reused, robot or "", total)


def earlier_attempts(folder: Path, seeds_used: int) -> int:
    """Expert attempts of earlier runs in ``folder``: from its ``expert.json``, or, for a
    folder written before that file existed, the seeds those runs consumed (exact unless a
    run ended on failed attempts)."""
    stats = folder / "expert.json"
    if stats.exists():
        return int(json.loads(stats.read_text())["attempts"])
    return seeds_used


def generate(suite: str, tasks: Sequence[str], episodes: int, out: Path, seed: int = 0,
             workers: int = 1, robots: Sequence[str] = ()) -> list[TaskReport]:
    """Generate demos for every task (of every robot), ``workers`` jobs at a time
    (processes)."""
    calls = [(suite, t, i, episodes, out, seed, None, r)
             for r in (robots or [None]) for i, t in enumerate(tasks)]
    return map_processes(generate_task, calls, workers)
