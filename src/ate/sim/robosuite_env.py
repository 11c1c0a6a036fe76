"""robosuite tasks (Lift, Stack) on any of its offline arms, behind the ``RolloutEnv``
interface, headless and state-only.

Two action spaces (``action_space``):
- ``joint`` (suite ``robosuite``): an action is ``[q_target (dof), gripper]`` for a
  JOINT_POSITION controller with ``input_type="absolute"``. The scripted experts act through
  an OSC_POSE controller in a second, identical scene; their demos are labelled with the joint
  positions reached after each step, ``[q_{t+1}, gripper_command]``, and a demo is kept only
  if that label replays to success in the joint-space scene. An angle means something else
  on each arm, so these labels share no meaning across arms.
- ``eef`` (suite ``robosuite-eef``): an action is the OSC_POSE command the expert issues,
  ``[delta position (3), delta axis-angle (3), gripper]`` in the controller's input range
  [-1, 1] (0.05 m and 0.5 rad per step at full scale), the same 7 numbers on every arm; the
  policy drives the same OSC_POSE controller, and a demo is kept only if its commands replay
  to success open loop.

Observations are embodiment-agnostic and 38-d: joint positions (padded to 7), end-effector
position (3) and quaternion (4), the last gripper command (1), and the task's object state
(Lift 10 dims, Stack 23; padded to 23). Object placement comes from the seed alone (the
scene's own sampler would place the cube differently on different arms), so evaluation
episodes are paired across arms and policies.
"""

from __future__ import annotations

import logging

import numpy as np

from ate.errors import ConfigError
from ate.sim.camera import Camera
from ate.sim.env import Expert

TASKS = ("Lift", "Stack")
# Default step limits at 20 Hz control, used by `ate eval` and the bench when none is set.
HORIZON = {"Lift": 250, "Stack": 400}
ROBOTS = ("Panda", "Sawyer", "IIWA", "Jaco", "Kinova3", "XArm7", "UR5e")
ACTION_SPACES = ("joint", "eef")
# robosuite draws model-level randomness when a scene is built (Lift's cube: 2.0-2.2 cm
# half-extent) from an RNG seeded by `seed`, fresh OS entropy when None: every scene would get
# its own cube, so an episode would depend on which process built its scene, not on its seed
MODEL_SEED = 0
OBS_DIM = 38
_JOINTS, _OBJECT = 7, 23
# (half-width of the x/y placement square, minimum distance between cubes) in metres
_PLACEMENT = {"Lift": (0.03, 0.0), "Stack": (0.08, 0.07)}


def _quiet() -> None:
    # robosuite logs start-up warnings (no private macro file, optional robot models, mink
    # IK) on its own logger at import; only errors are worth a user's attention
    logging.getLogger("robosuite_logs").addFilter(lambda r: r.levelno >= logging.ERROR)


def _make(task: str, robot: str, controller: str):
    _quiet()
    import robosuite
    from robosuite.controllers import load_composite_controller_config

    config = load_composite_controller_config(controller="BASIC", robot=robot)
    arm = config["body_parts"]["right"]
    if controller == "joint":
        arm.update(type="JOINT_POSITION", input_type="absolute", kp=150,
                   interpolation=None, impedance_mode="fixed")
    return robosuite.make(
        task, robots=robot, controller_configs=config, has_renderer=False,
        has_offscreen_renderer=False, use_camera_obs=False, control_freq=20,
        horizon=10_000, ignore_done=True, hard_reset=False, initialization_noise=None,
        reward_shaping=False, seed=MODEL_SEED)


class RobosuiteEnv:
    """One robosuite task on one arm behind the ``RolloutEnv`` interface.

    Args:
        task: ``Lift`` or ``Stack``.
        robot: an arm of ``ROBOTS``.
        max_steps: step limit (20 Hz control).
        action_space: ``joint`` (absolute joint targets + gripper, dof + 1 dims) or ``eef``
            (OSC_POSE end-effector deltas + gripper, 7 dims on every arm).
    """

    obs_dim = OBS_DIM

    def __init__(self, task: str, robot: str, max_steps: int | None = None,
                 action_space: str = "joint") -> None:
        if action_space not in ACTION_SPACES:
            raise ConfigError(f"action_space '{action_space}' unknown; use one of "
                              f"{ACTION_SPACES}.")
        if task not in TASKS:
            raise ConfigError(f"robosuite task '{task}' has no scripted expert here; use one "
                              f"of {TASKS}.")
        if robot not in ROBOTS:
            raise ConfigError(f"robot '{robot}' is not one of the arms that load offline: "
                              f"{ROBOTS}.")
        self.task, self.robot, self.action_space = task, robot, action_space
        self.max_steps = max_steps or HORIZON[task]
        self._scenes: dict[str, object] = {}
        self._env = None
        self._steps, self._gripper = 0, -1.0
        self._camera = Camera("frontview")
        # the scene the policy acts in: its controller reads the action space's commands
        self._acting = "joint" if action_space == "joint" else "osc"
        self.action_dim = self._scene(self._acting).action_dim

    def _scene(self, controller: str):
        if controller not in self._scenes:
            self._scenes[controller] = _make(self.task, self.robot, controller)
        return self._scenes[controller]

    # -- RolloutEnv -------------------------------------------------------------------------
    def reset(self, seed: int) -> np.ndarray:
        self._env = self._scene(self._acting)
        return self._reset(self._env, seed)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, bool, bool]:
        if self._env is None:
            raise RuntimeError("call reset(seed) before step")
        action = np.asarray(action, dtype=np.float64)
        self._gripper = float(np.clip(action[-1], -1.0, 1.0))
        obs, _, _, _ = self._env.step(np.concatenate([action[:-1], [self._gripper]]))
        self._steps += 1
        success = bool(self._env._check_success())
        return self._observe(obs), success, success or self._steps >= self.max_steps

    def close_camera(self) -> None:
        self._camera.close()

    def render(self, width: int = 256, height: int = 256) -> np.ndarray:
        if self._env is None:
            raise RuntimeError("call reset(seed) before render")
        sim = self._env.sim
        return self._camera.frame(sim.model._model, sim.data._data, width, height)

    def expert(self) -> Expert:
        """A fresh OSC_POSE expert (7-d actions for ``demonstrate``'s OSC scene, not for
        ``step``); it reads only the 38-d observation."""
        return ScriptedExpert(self.task, self.robot)

    def demonstrate(self, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """Expert episode in the OSC scene, held for 15 steps past the first success,
        labelled ``[q_{t+1}, gripper]`` (``joint``) or with the expert's own OSC commands
        (``eef``); it counts as a success only when those labels, replayed open loop in the
        scene the policy acts in, succeed too."""
        env = self._scene("osc")
        obs = self._reset(env, seed)
        expert = self.expert()
        labels, observations, hold = [], [], 15
        for _ in range(self.max_steps):
            action = expert(obs)
            observations.append(obs)
            self._gripper = float(action[-1])
            raw, _, _, _ = env.step(action)
            obs = self._observe(raw)
            labels.append(np.concatenate([raw["robot0_joint_pos"], [action[-1]]])
                          if self.action_space == "joint" else np.asarray(action))
            hold -= bool(env._check_success()) or hold < 15
            if hold == 0:
                break
        labels_arr = np.asarray(labels, dtype=np.float32)
        return labels_arr, np.asarray(observations, dtype=np.float32), self.replays(
            labels_arr, seed)

    # -- helpers ----------------------------------------------------------------------------
    def replays(self, actions: np.ndarray, seed: int) -> bool:
        """Whether these joint-space actions, replayed open loop, solve the seed's episode."""
        self.reset(seed)
        for action in actions:
            _, success, done = self.step(action)
            if success:
                return True
            if done:
                return False
        return False

    def _reset(self, env, seed: int) -> np.ndarray:
        env.reset()
        if self.robot == "Sawyer":  # its base sphere jams joint 0 under mujoco 3.3
            geom = env.sim.model.geom_name2id("robot0_base_col")
            env.sim.model.geom_contype[geom] = env.sim.model.geom_conaffinity[geom] = 0
        self._place(env, seed)
        self._steps, self._gripper = 0, -1.0
        env.sim.forward()
        return self._observe(env._get_observations(force_update=True))

    def _place(self, env, seed: int) -> None:
        rng = np.random.default_rng(seed)
        half, gap = _PLACEMENT[self.task]
        cubes = [env.cube] if self.task == "Lift" else [env.cubeA, env.cubeB]
        spots: list[np.ndarray] = []
        while len(spots) < len(cubes):
            xy = rng.uniform(-half, half, size=2)
            if all(np.linalg.norm(xy - s) >= gap for s in spots):
                spots.append(xy)
        for cube, xy in zip(cubes, spots, strict=True):
            joint = cube.joints[0]
            qpos = env.sim.data.get_joint_qpos(joint).copy()
            yaw = rng.uniform(-np.pi / 4, np.pi / 4)
            qpos[:2] = np.asarray(env.table_offset[:2]) + xy
            qpos[3:] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]  # mujoco wxyz
            env.sim.data.set_joint_qpos(joint, qpos)

    def _observe(self, obs: dict) -> np.ndarray:
        q = np.zeros(_JOINTS)
        joints = obs["robot0_joint_pos"]
        q[:len(joints)] = joints
        state = np.zeros(_OBJECT)
        objects = obs["object-state"]
        state[:len(objects)] = objects
        return np.concatenate([q, obs["robot0_eef_pos"], obs["robot0_eef_quat"],
                               [self._gripper], state]).astype(np.float32)


class ScriptedExpert:
    """Pick (and place) through OSC_POSE deltas, read from the wrapper's 38-d observation:
    above the cube with the hand turned to the cube's yaw (modulo 90 degrees), descend to its
    centre, close for a fixed time (Jaco's fingers close slowly: 100 steps; the others 15),
    lift slowly (Stack: carry the held cube above the other one, lower it, open).
    """

    def __init__(self, task: str, robot: str) -> None:
        self.task = task
        # Jaco's fingers move 1% of their range per step: from half open, a grasp needs
        # about 100 steps to close on the cube, and a release about 50 to let go of it; its
        # weak grasp drops a cube carried at full speed (XArm7 stalls at half speed)
        slow = robot == "Jaco"
        self.close_steps, self.release_steps = (100, 50) if slow else (15, 10)
        self.carry_gain = 0.5 if slow else 1.0
        self.phase, self.count, self.heading = "above", 0, None
        self.integral = np.zeros(3)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        from robosuite.utils import transform_utils as T

        eef, quat = obs[7:10].astype(np.float64), obs[10:14].astype(np.float64)
        pick, other = obs[15:18].astype(np.float64), obs[22:25].astype(np.float64)
        if self.heading is None:  # quaternions are xyzw here, robosuite's convention
            yaw = T.mat2euler(T.quat2mat(obs[18:22].astype(np.float64)))[2]
            yaw = (yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4  # a cube's faces repeat every 90
            self.heading = T.quat_multiply(T.axisangle2quat(np.array([0.0, 0.0, yaw])), quat)
        target, grip, gain = eef, -1.0, 1.0
        if self.phase == "above":
            target = pick + np.array([0, 0, 0.08])
            if np.linalg.norm(target - eef) < 0.01:
                self.phase = "descend"
        if self.phase == "descend":
            target = pick
            if np.linalg.norm(target - eef) < 0.008:
                self.phase, self.count = "close", 0
        if self.phase == "close":
            target, grip = pick, 1.0
            self.count += 1
            if self.count >= self.close_steps:
                self.phase = "lift"
        if self.phase == "lift":
            target, grip, gain = eef.copy(), 1.0, 0.35  # a weak grasp slips when lifted fast
            target[2] = pick[2] + 0.15 if self.task == "Lift" else other[2] + 0.1
            if self.task == "Stack" and abs(eef[2] - target[2]) < 0.02:
                self.phase = "carry"
        # the held cube, not the hand, goes above the other one: a cube held off-centre
        # (Jaco's two fingers and thumb) lands beside it otherwise
        if self.phase == "carry":
            goal, grip, gain = other + np.array([0, 0, 0.1]), 1.0, self.carry_gain
            target = eef + goal - pick
            if np.linalg.norm(goal[:2] - pick[:2]) < 0.008:
                self.phase = "lower"
        if self.phase == "lower":
            goal, grip, gain = other + np.array([0, 0, 0.05]), 1.0, 0.5
            target = eef + goal - pick
            if np.linalg.norm(goal - pick) < 0.008:
                self.phase, self.count = "release", 0
        if self.phase == "release":
            self.count += 1
            target = eef if self.count <= self.release_steps else eef + np.array([0, 0, 0.05])
        # an integral term for the carried cube: a loaded arm (XArm7) otherwise settles a
        # centimetre short of the goal under OSC's proportional pull
        error = 10.0 * (target - eef) * gain
        if self.phase in ("carry", "lower"):
            self.integral = self.integral + 0.05 * error
            error = error + self.integral
        move = np.clip(error, -1.0, 1.0)
        turn = np.clip(4.0 * T.get_orientation_error(self.heading, quat), -1.0, 1.0)
        return np.concatenate([move, turn, [grip]])
