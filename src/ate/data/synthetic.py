"""Smooth synthetic action trajectories for tests and the demo, before simulators run.

Each embodiment maps a shared low-dimensional "task motion" (a few smooth sinusoids with
random phase) through a fixed random linear map to its own D joint-like dims, plus a
gripper that opens and closes. Two embodiments of different D thus share structure, as
two robots doing the same tasks do, without being copies of each other.
"""

from __future__ import annotations

import numpy as np


def synthetic_episodes(
    num_episodes: int,
    action_dim: int,
    *,
    length: tuple[int, int] = (60, 120),
    motion_dim: int = 3,
    embodiment_seed: int = 0,
    seed: int = 0,
    scale: float = 1.0,
) -> list[np.ndarray]:
    """Episodes of shape (n_i, action_dim), n_i drawn uniformly from ``length``.

    Args:
        num_episodes: how many episodes.
        action_dim: D; the last dim is a binary-ish gripper in [0, 1].
        length: inclusive range of episode lengths in steps.
        motion_dim: dims of the shared latent motion.
        embodiment_seed: fixes the embodiment's linear map (same seed = same robot).
        seed: randomness of the episodes themselves.
        scale: multiplies the joint dims (robots differ in units and ranges).
    """
    robot = np.random.default_rng(embodiment_seed)
    mix = robot.normal(size=(motion_dim, action_dim - 1)) / np.sqrt(motion_dim)
    bias = robot.uniform(-0.5, 0.5, size=action_dim - 1)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num_episodes):
        n = int(rng.integers(length[0], length[1] + 1))
        t = np.linspace(0.0, 1.0, n)[:, None]
        freq = rng.uniform(0.5, 2.0, size=motion_dim)
        phase = rng.uniform(0, 2 * np.pi, size=motion_dim)
        motion = np.sin(2 * np.pi * freq * t + phase) + rng.normal(0, 0.01, (n, motion_dim))
        joints = scale * (motion @ mix + bias)
        close = rng.uniform(0.3, 0.7)
        gripper = (t[:, 0] > close).astype(np.float64)
        out.append(np.column_stack([joints, gripper]).astype(np.float32))
    return out
