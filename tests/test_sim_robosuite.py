"""The robosuite wrapper: seeded resets, joint-space steps, the OSC expert's demos replay in
joint space, and the generator's output reads back through the data layer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("robosuite")

from ate.data.load import load_episodes
from ate.errors import ConfigError
from ate.sim.generate import generate
from ate.sim.robosuite_env import OBS_DIM, RobosuiteEnv


@pytest.fixture(scope="module")
def lift() -> RobosuiteEnv:
    return RobosuiteEnv("Lift", "Panda")


def test_reset_is_a_function_of_the_seed(lift: RobosuiteEnv) -> None:
    a, b, c = lift.reset(3), lift.reset(4), lift.reset(3)
    assert a.shape == (OBS_DIM,) and lift.action_dim == 8
    np.testing.assert_array_equal(a, c)
    assert not np.allclose(a[15:18], b[15:18])  # the cube moved with the seed


def test_joint_targets_move_the_arm(lift: RobosuiteEnv) -> None:
    obs = lift.reset(0)
    target = obs[:7].astype(np.float64) + 0.1
    for _ in range(30):
        obs, success, done = lift.step(np.concatenate([target, [-1.0]]))
    assert np.abs(obs[:7] - target).max() < 0.03  # absolute joint-position control
    assert not success and not done


def test_expert_demo_replays_in_joint_space(lift: RobosuiteEnv) -> None:
    actions, observations, success = lift.demonstrate(1)
    assert success and len(actions) == len(observations) < lift.max_steps
    assert actions.shape[1] == 8 and set(np.unique(actions[:, -1])) <= {-1.0, 1.0}
    assert lift.replays(actions, 1)
    assert not lift.replays(actions[:5], 1)  # the start of the demo does not lift the cube


def test_jacos_slow_three_finger_hand_lifts_the_cube() -> None:
    env = RobosuiteEnv("Lift", "Jaco")
    actions, _, success = env.demonstrate(2)
    assert success and len(actions) < env.max_steps
    # its fingers move 1% of their range a step: the same demo with the other arms' 15
    # closing steps lifts with an open hand
    first = np.flatnonzero(actions[:, -1] > 0)[0]
    assert (actions[first:first + 100, -1] > 0).all()
    assert env.replays(actions, 2)
    assert not env.replays(np.concatenate([actions[:first + 15], actions[first + 100:]]), 2)


@pytest.mark.parametrize("suite", ["robosuite", "robosuite-eef"])
def test_generator_output_reads_back(tmp_path, suite) -> None:
    reports = generate(suite, ["Lift"], 2, tmp_path, robots=["UR5e"])
    assert reports[0].kept == 2 and reports[0].robot == "UR5e"
    eps = load_episodes(tmp_path, obs_key="observations/state")
    # UR5e: 6 joints + grip, or the 7-d end-effector command of every arm
    assert eps.dim == 7 and eps.obs_dim == OBS_DIM and len(eps) == 2
    assert (np.abs(eps.actions).max() <= 1.0) == (suite == "robosuite-eef")
    assert set(eps.tasks) == {"Lift"}


def test_unknown_task_or_robot_is_refused() -> None:
    with pytest.raises(ConfigError, match="Lift"):
        RobosuiteEnv("Door", "Panda")
    with pytest.raises(ConfigError, match="UR5e"):
        RobosuiteEnv("Lift", "Baxter")


def test_end_effector_actions_are_the_experts_commands_on_every_arm() -> None:
    """``robosuite-eef``: 7-d OSC commands on a 7-DoF and a 6-DoF arm alike; the demo's
    labels are what the expert commanded, and they replay open loop in the acting scene."""
    from ate.sim.generate import make_env

    for robot in ("Panda", "UR5e"):
        env = make_env("robosuite-eef", "Lift", robot)
        assert env.action_space == "eef" and env.action_dim == 7
        actions, observations, success = env.demonstrate(1)
        assert success and actions.shape == (len(observations), 7)
        assert np.abs(actions).max() <= 1.0 and set(np.unique(actions[:, -1])) <= {-1.0, 1.0}
        expert, obs = env.expert(), env.reset(1)
        np.testing.assert_allclose(actions[0], expert(obs), rtol=0, atol=1e-6)
        assert env.replays(actions, 1) and not env.replays(actions[:5], 1)
    with pytest.raises(ConfigError, match="action_space"):
        RobosuiteEnv("Lift", "Panda", action_space="torque")


def test_an_eef_command_moves_the_hand_along_it() -> None:
    env = RobosuiteEnv("Lift", "Kinova3", action_space="eef")
    start = env.reset(0)[7:10].copy()
    for _ in range(10):
        obs, _, _ = env.step(np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0]))
    moved = obs[7:10] - start
    assert moved[2] > 0.05 and np.abs(moved[:2]).max() < 0.02  # up, not sideways
