"""``ate eval``: closed-loop success rates of a saved policy."""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.table import Table

from ate.bench.rollout import evaluate
from ate.bench.video import record_rollouts
from ate.checkpoint import resolve_checkpoint
from ate.errors import ConfigError, check_ranges
from ate.folder_lock import exclusive


def evaluate_policy(
    policy: str,
    suite: Literal["metaworld", "robosuite", "robosuite-eef"] = "metaworld",
    tasks: tuple[str, ...] = ("reach-v3",),
    robots: tuple[str, ...] = (),
    episodes: int = 50,
    execute: int = 8,
    workers: int = 2,
    max_steps: int | None = None,
    batch: int = 10,
    out: str | None = None,
    video: int = 0,
    sampling_guidance: str | None = None,
    sampling_guidance_scale: float = 0.1,
) -> None:
    """Roll a saved policy out in a simulator; success rate with an exact 95% interval per
    task (held-out seeds, disjoint from every demo seed).

    Args:
        policy: a policy run folder (its best/) or checkpoint folder.
        suite: simulator suite (the `sim` extra); a policy trained on ``robosuite-eef``
            demos is evaluated on ``robosuite-eef`` (the controller its actions command).
        tasks: task names.
        robots: robosuite arms (each task is evaluated on each).
        episodes: evaluation episodes per task.
        execute: actions executed from each predicted chunk before re-planning.
        workers: (task, robot) pairs evaluated in parallel processes.
        max_steps: episode step limit (default: the suite's).
        batch: environments each process steps in lock step (one batched policy call per
            re-plan); each costs 0.3 s / 37 MB (Meta-World) or 1.9 s / 170 MB (robosuite)
            to build.
        out: write results.json here.
        video: also record this many episodes per task (and robot) under ``out/videos``:
            MP4 with imageio-ffmpeg, else GIF; needs offscreen OpenGL (EGL or OSMesa).
        sampling_guidance: a stage-2 ``ate align`` folder: act with sampling-time latent
            guidance toward the latents of the policy's own training chunks (costs an
            encoder forward and backward per denoising step; not in the paper).
        sampling_guidance_scale: its step size on each clean estimate (policy units).
    """
    check_ranges((
        ("--episodes", episodes, episodes >= 1, ">= 1"),
        ("--execute", execute, execute >= 1, ">= 1"),
        ("--workers", workers, workers >= 1, ">= 1"),
        ("--batch", batch, batch >= 1, ">= 1"),
        ("--video", video, video >= 0, ">= 0"),
        ("--max-steps", max_steps, max_steps is None or max_steps >= 1, ">= 1 or None"),
        ("--sampling-guidance-scale", sampling_guidance_scale, sampling_guidance_scale >= 0,
         ">= 0")))
    if video and not out:
        raise ConfigError("--video needs --out: the videos are written to OUT/videos.")
    folder = resolve_checkpoint(Path(policy))
    with exclusive(Path(out), "ate eval") if out else nullcontext():
        sampling = (None if sampling_guidance is None
                    else (sampling_guidance, sampling_guidance_scale))
        _evaluate(folder, suite, tasks, robots, episodes, execute, workers, max_steps, batch,
                  out, video, sampling)


def _evaluate(folder: Path, suite: str, tasks: tuple[str, ...], robots: tuple[str, ...],
              episodes: int, execute: int, workers: int, max_steps: int | None, batch: int,
              out: str | None, video: int, sampling: tuple[str, float] | None) -> None:
    results = evaluate(str(folder), suite, list(tasks), episodes, execute, workers, max_steps,
                       robots, batch, sampling)
    table = Table(title=f"{folder}: {suite}, {episodes} episodes per task")
    for col in ("robot", "task", "success", "95% interval"):
        table.add_column(col, justify="right")
    rows = []
    for r in results:
        lo, hi = r.interval
        table.add_row(r.robot or "-", r.task, f"{r.rate:.1%} ({r.successes}/{r.episodes})",
                      f"[{lo:.1%}, {hi:.1%}]")
        rows.append({"task": r.task, "robot": r.robot, "successes": r.successes,
                     "episodes": r.episodes,
                     "rate": r.rate, "interval": [lo, hi], "seeds": r.seeds,
                     "outcomes": r.outcomes})
    Console().print(table)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "results.json").write_text(json.dumps(
            {"policy": str(folder), "suite": suite, "execute": execute,
             "sampling_guidance": None if sampling is None else
             {"stage2": sampling[0], "scale": sampling[1]}, "tasks": rows},
            indent=2))
    pairs = [(task, robot) for robot in robots or (None,) for task in tasks] if video else []
    for task, robot in pairs:
        for path in record_rollouts(str(folder), suite, task, video, Path(out) / "videos",
                                    execute, max_steps, robot):
            Console().print(f"video: {path}")
