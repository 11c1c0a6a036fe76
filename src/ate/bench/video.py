"""Videos of closed-loop rollouts: MP4 (with imageio-ffmpeg) or GIF.

Recording runs in a fresh spawned process, because mujoco picks its OpenGL backend once, at
import, from ``MUJOCO_GL``: the process sets ``egl`` (Mesa's software rasteriser serves
when there is no GPU) unless the caller chose one.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ate.errors import SimulatorError
from ate.sim.env import RolloutEnv


class RecordingEnv:
    """A ``RolloutEnv`` that keeps a frame of every state of its current episode.

    Args:
        env: the environment to record.
        width / height: frame size in pixels.
    """

    def __init__(self, env: RolloutEnv, width: int = 256, height: int = 256) -> None:
        self.env, self.width, self.height = env, width, height
        self.task, self.action_dim, self.obs_dim = env.task, env.action_dim, env.obs_dim
        self.frames: list[np.ndarray] = []

    @property
    def max_steps(self) -> int:
        return self.env.max_steps

    def reset(self, seed: int) -> np.ndarray:
        obs = self.env.reset(seed)
        self.frames = [self.env.render(self.width, self.height)]
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, bool, bool]:
        out = self.env.step(action)
        self.frames.append(self.env.render(self.width, self.height))
        return out


def write_video(frames: list[np.ndarray], path: Path, fps: int = 20) -> Path:
    """Write (H, W, 3) uint8 frames as ``path`` with suffix .mp4 when imageio-ffmpeg is
    installed, else .gif (Pillow). Returns the written path."""
    import imageio.v3 as iio

    try:
        import imageio_ffmpeg  # noqa: F401
        path = path.with_suffix(".mp4")
        iio.imwrite(path, np.stack(frames), fps=fps, codec="libx264", macro_block_size=8)
    except ImportError:
        path = path.with_suffix(".gif")
        iio.imwrite(path, np.stack(frames), duration=1000 / fps, loop=0)
    return path


def _record(policy_dir: str, suite: str, task: str, robot: str | None, count: int,
            execute: int, max_steps: int | None, first_seed: int, out: str, size: int,
            fps: int) -> list[str]:
    import torch

    from ate.bench.rollout import load_task_policy, run_episodes
    from ate.sim.generate import make_env

    torch.set_num_threads(1)
    policy, task_id = load_task_policy(policy_dir, task)
    envs = []
    for _ in range(count):
        env = make_env(suite, task, robot)
        if max_steps:
            env.max_steps = max_steps
        envs.append(RecordingEnv(env, size, size))
    seeds = list(range(first_seed, first_seed + count))
    try:
        outcomes = run_episodes(envs, policy, task_id, seeds, execute)
    except Exception as exc:  # the GL backend fails here, not at import
        raise SimulatorError(
            f"offscreen rendering failed with MUJOCO_GL={os.environ.get('MUJOCO_GL')}: {exc}. "
            "Install EGL (Debian: libegl1 + libgl1-mesa-dri) or OSMesa (libosmesa6) and set "
            "MUJOCO_GL=egl or MUJOCO_GL=osmesa.") from exc
    folder = Path(out) / (f"{task}-{robot}" if robot else task)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for env, seed, ok in zip(envs, seeds, outcomes, strict=True):
        written.append(str(write_video(env.frames, folder / f"seed{seed}-"
                                       f"{'success' if ok else 'failure'}", fps)))
        env.env.close_camera()
    return written


def _headless() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")


def record_rollouts(policy_dir: str, suite: str, task: str, count: int, out: Path,
                    execute: int = 8, max_steps: int | None = None,
                    robot: str | None = None, first_seed: int | None = None,
                    size: int = 256, fps: int = 20) -> list[Path]:
    """Record ``count`` closed-loop episodes of a saved policy (a run folder, its best/,
or a checkpoint folder) on one task.

    The episodes use the first evaluation seeds (``EVAL_SEED_BASE`` up): the same initial
    states as ``ate eval``'s first episodes, though the policy's sampling noise differs.
    Files: ``out/<task>[-<robot>]/seed<s>-success|failure.mp4`` (``.gif`` without
    imageio-ffmpeg), ``size`` x ``size`` pixels at ``fps`` frames per second (one frame per
    control step).
    """
    from ate.checkpoint import resolve_checkpoint
    from ate.sim.generate import EVAL_SEED_BASE

    policy_dir = str(resolve_checkpoint(Path(policy_dir)))
    seed = EVAL_SEED_BASE if first_seed is None else first_seed
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_headless) as pool:
        paths = pool.submit(_record, policy_dir, suite, task, robot, count, execute,
                            max_steps, seed, str(out), size, fps).result()
    return [Path(p) for p in paths]
