"""Meta-World tasks (Sawyer arm, 4-d actions in [-1, 1], 39-d observations), goal-observable
so that its scripted experts (``metaworld.policies``) can read the goal from obs[36:39].

``reset(seed=)`` of the environment is ignored by Meta-World. The first reset builds the task
with the seed in its constructor (190 ms for a task's first environment in a process, 40 ms
for the next, which copies the compiled model); later resets reseed that instance with
``env.seed(seed)`` before drawing the placement (15-35 ms), which reproduces a fresh
constructor's episode (same placement to 1e-8, same expert actions; checked on door-lock,
bin-picking and reach). Demos are labelled with the executed (clipped) expert action.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ate.errors import ConfigError
from ate.sim.camera import Camera
from ate.sim.env import Expert, rollout


def _quiet() -> None:
    # scripted experts warn "Constant(s) may be too high" on every call
    warnings.filterwarnings("ignore", message=".*Constant\\(s\\) may be too high.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="gymnasium")


_MODELS: dict[str, object] = {}


@contextmanager
def _compiled_once() -> Iterator[None]:
    """Compile each task's XML once per process: every further environment of the task gets
    a copy of the compiled ``MjModel`` (a memory copy instead of a 0.2 s XML compile; an
    evaluation builds one environment per lock-step slot, 250 per job). Meta-World edits
    its model on reset, so each environment needs its own copy, never a shared one."""
    import mujoco

    compile_xml = mujoco.MjModel.from_xml_path

    def from_xml_path(path: str, *args, **kwargs):
        if args or kwargs:
            return compile_xml(path, *args, **kwargs)
        if path not in _MODELS:
            _MODELS[path] = compile_xml(path)
        return copy.copy(_MODELS[path])

    mujoco.MjModel.from_xml_path = staticmethod(from_xml_path)
    try:
        yield
    finally:
        mujoco.MjModel.from_xml_path = compile_xml


def task_names() -> list[str]:
    """All Meta-World v3 task names (``reach-v3`` ...)."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE

    return sorted(k.removesuffix("-goal-observable") for k in
                  ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE)


class MetaWorldEnv:
    """One Meta-World task behind the ``RolloutEnv`` interface.

    Args:
        task: e.g. ``"reach-v3"``.
        max_steps: step limit (Meta-World's own: 500).
    """

    action_dim = 4
    obs_dim = 39

    def __init__(self, task: str, max_steps: int = 500) -> None:
        _quiet()
        from metaworld.env_dict import ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE

        key = f"{task}-goal-observable"
        if key not in ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE:
            raise ConfigError(f"Meta-World has no task '{task}'; e.g. {task_names()[:5]}.")
        self.task, self.max_steps = task, max_steps
        self._cls = ALL_V3_ENVIRONMENTS_GOAL_OBSERVABLE[key]
        self._env = None
        self._steps = 0
        self._camera = Camera("corner", upside_down=True)

    def reset(self, seed: int) -> np.ndarray:
        if self._env is None:
            with _compiled_once():
                self._env = self._cls(seed=seed)
        env = self._env
        env.seed(seed)
        env._freeze_rand_vec = False
        env.seeded_rand_vec = True
        self._steps = 0
        obs, _ = env.reset()
        return np.asarray(obs, dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, bool, bool]:
        if self._env is None:
            raise RuntimeError("call reset(seed) before step")
        obs, _, terminated, truncated, info = self._env.step(
            np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0))
        self._steps += 1
        success = bool(info.get("success", False))
        done = success or terminated or truncated or self._steps >= self.max_steps
        return np.asarray(obs, dtype=np.float32), success, done

    def close_camera(self) -> None:
        self._camera.close()

    def render(self, width: int = 256, height: int = 256) -> np.ndarray:
        if self._env is None:
            raise RuntimeError("call reset(seed) before render")
        return self._camera.frame(self._env.model, self._env.data, width, height)

    def expert(self) -> Expert:
        """Meta-World's scripted policy, its actions clipped to [-1, 1] as ``step`` executes
        them: the raw ones reach +-25 (a third of the xyz entries beyond 1), and a demo
        labelled with them makes a min-max normaliser squeeze every executable action into
        a twentieth of the policy's output range."""
        from metaworld.policies import ENV_POLICY_MAP

        policy = ENV_POLICY_MAP[self.task]()
        return lambda obs: np.clip(np.asarray(policy.get_action(obs), dtype=np.float32),
                                   -1.0, 1.0)

    def demonstrate(self, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
        return rollout(self, self.expert(), seed)
