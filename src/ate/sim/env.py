"""The small environment interface every suite's wrapper offers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

Expert = Callable[[np.ndarray], np.ndarray]


class RolloutEnv(Protocol):
    """One task of one robot: seeded resets, steps that report success.

    Attributes:
        task: the task's name.
        action_dim: D.
        obs_dim: S.
        max_steps: the episode's step limit.
    """

    task: str
    action_dim: int
    obs_dim: int
    max_steps: int

    def reset(self, seed: int) -> np.ndarray:
        """Start an episode whose initial state is a function of ``seed``; (S,) observation."""
        ...

    def step(self, action: np.ndarray) -> tuple[np.ndarray, bool, bool]:
        """Apply a (D,) action; returns (observation, success, done)."""
        ...

    def expert(self) -> Expert:
        """A scripted expert for this task: observation -> action."""
        ...

    def render(self, width: int, height: int) -> np.ndarray:
        """The current state seen from the suite's overview camera: (height, width, 3)
        uint8. Needs a headless OpenGL (``MUJOCO_GL=egl`` or ``osmesa``) chosen before
        mujoco is imported; ``ate.bench.video`` sets that up."""
        ...

    def close_camera(self) -> None:
        """Free what ``render`` built (its GL context)."""
        ...

    def demonstrate(self, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """One expert episode: (actions (n, D), observations (n, S), success), labelled in
        the action space ``step`` takes (an expert may act in another one)."""
        ...


def rollout(env: RolloutEnv, policy: Expert, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """One episode of a state -> action policy: (actions (n, D), observations (n, S),
    success). Observation t is the one action t was chosen from."""
    obs = env.reset(seed)
    actions, observations = [], []
    for _ in range(env.max_steps):
        action = policy(obs)
        observations.append(obs)
        actions.append(action)
        obs, success, done = env.step(action)
        if done:
            return np.asarray(actions), np.asarray(observations), success
    return np.asarray(actions), np.asarray(observations), False
