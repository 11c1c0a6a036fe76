"""Environments kept between evaluations: handed out again, bounded, and reset to exactly the
state of a fresh one (so keeping them changes no outcome)."""

from __future__ import annotations

import numpy as np
import pytest

from ate.sim import env_pool


def trajectory(env, seed: int, actions: np.ndarray) -> list[np.ndarray]:
    out = [env.reset(seed)]
    for a in actions:
        obs, success, done = env.step(a)
        out.append(np.append(obs, [success, done]))
    return out


@pytest.mark.parametrize("suite,task,robot", [
    ("metaworld", "door-lock-v3", None), ("robosuite", "Lift", "UR5e"),
    ("robosuite-eef", "Lift", "Kinova3")])
def test_a_kept_environment_replays_a_seed_bit_for_bit(suite, task, robot) -> None:
    if suite.startswith("robosuite"):
        pytest.importorskip("robosuite")
    pytest.importorskip("metaworld")
    env_pool.release()
    (kept,) = env_pool.environments(suite, task, robot, 1, max_steps=30)
    rng = np.random.default_rng(0)
    low = 1.0 if suite != "robosuite" else 0.2
    kept.reset(7)
    for _ in range(25):  # an earlier episode that moved everything
        kept.step(rng.uniform(-low, low, kept.action_dim))
    again = env_pool.environments(suite, task, robot, 1, max_steps=30)[0]
    assert again is kept
    env_pool.release()
    (fresh,) = env_pool.environments(suite, task, robot, 1, max_steps=30)
    assert fresh is not kept and fresh.max_steps == 30
    actions = rng.uniform(-low, low, (20, kept.action_dim))
    if suite == "robosuite":  # absolute joint targets near the start pose
        start = fresh.reset(3)[:kept.action_dim - 1]
        actions[:, :-1] += start
    for a, b in zip(trajectory(kept, 3, actions), trajectory(fresh, 3, actions), strict=True):
        np.testing.assert_array_equal(a, b)
    env_pool.release()


def test_the_pool_keeps_at_most_keep_environments(monkeypatch) -> None:
    made = []
    monkeypatch.setattr(env_pool, "make_env", lambda *a: made.append(a) or object())
    monkeypatch.setattr(env_pool, "KEEP", 5)
    env_pool.release()
    first = env_pool.environments("metaworld", "a", None, 3)
    assert env_pool.environments("metaworld", "a", None, 2) == first[:2] and len(made) == 3
    env_pool.environments("metaworld", "b", None, 3)  # 6 > 5: "a" (least recent) goes
    assert env_pool.environments("metaworld", "a", None, 1)[0] is not first[0]
    assert len(made) == 7
    env_pool.release()
