"""Long fine-tuning jobs: resumed after a kill, warm-started along a grid of lengths, timed.

A fine-tuning's randomness is drawn from (seed, step) and its data order from (seed, epoch),
and the bench's learning rate is constant, so the first L steps of a K-step run (K > L) are
the L-step run exactly. A grid of lengths therefore costs one run of the longest: the L-step
job's final checkpoint is where the next length's job resumes. A job killed mid-way resumes
from its own last checkpoint. Its wall time sums the segments that built it: finished
segments, and for a killed one the time up to its last checkpoint (what came after it is
trained again).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

SEGMENT = "segment.json"  # the segment running now: when it started, from which step
SEGMENTS = "segments.json"  # the finished (or killed) segments: seconds and steps


def checkpoint_step(last: Path) -> int | None:
    """The optimiser step a ``last/`` checkpoint folder was written at (None: no such
    folder or no trainer state in it)."""
    from ate.checkpoint import load_trainer_state, recover_folder
    from ate.errors import ConfigError

    if not (last.exists() or last.with_name(last.name + ".old").exists()):
        return None
    try:
        return int(load_trainer_state(recover_folder(last))["step"])
    except (ConfigError, KeyError, ValueError):
        return None


def begin_segment(job: Path, warm: Path | None) -> Path | None:
    """Prepare ``job/policy`` to train and return the folder to resume from (None: from the
    start). A killed run of this job resumes from its own ``policy/last``; otherwise the
    finished shorter job ``warm`` (its ``policy/last``) is copied in and resumed. The segment
    now starting is recorded, and a killed previous segment is closed at its last
    checkpoint's time."""
    policy = job / "policy"
    own = checkpoint_step(policy / "last")
    _close_killed_segment(job, own)
    if own is None:
        shutil.rmtree(job, ignore_errors=True)
        job.mkdir(parents=True)
        if warm is not None and checkpoint_step(warm / "policy" / "last") is not None:
            shutil.copytree(warm / "policy" / "last", policy / "last")
            for name in ("steer_shift.json",):  # measured once, on the same data and guidance
                if (warm / "policy" / name).exists():
                    shutil.copy(warm / "policy" / name, policy / name)
            prior = json.loads((warm / "eval.json").read_text()).get("train_s", 0.0)
            _write(job / SEGMENTS, [{"from": "warm start", "job": warm.name,
                                     "seconds": prior, "to_step": checkpoint_step(
                                         policy / "last")}])
    resume_step = checkpoint_step(policy / "last")
    _write(job / SEGMENT, {"start": time.time(), "from_step": resume_step or 0})
    return policy if resume_step is not None else None


def end_segment(job: Path, step: int) -> float:
    """Close the running segment at ``step``; returns the job's total training seconds."""
    segment = _read(job / SEGMENT, None)
    segments = _read(job / SEGMENTS, [])
    if segment is not None:
        segments.append({"from_step": segment["from_step"], "to_step": step,
                         "seconds": time.time() - segment["start"]})
        _write(job / SEGMENTS, segments)
        (job / SEGMENT).unlink()
    return float(sum(s["seconds"] for s in segments))


def _close_killed_segment(job: Path, step: int | None) -> None:
    segment = _read(job / SEGMENT, None)
    if segment is None:
        return
    last = job / "policy" / "last"
    if step is not None and step > segment["from_step"]:
        trainer_files = [p.stat().st_mtime for p in last.iterdir()] if last.is_dir() else []
        end = max(trainer_files, default=segment["start"])
        _write(job / SEGMENTS, [*_read(job / SEGMENTS, []),
                                {"from_step": segment["from_step"], "to_step": step,
                                 "seconds": max(end - segment["start"], 0.0),
                                 "killed": True}])
    (job / SEGMENT).unlink()


def _read(path: Path, default: object) -> object:
    return json.loads(path.read_text()) if path.exists() else default


def _write(path: Path, value: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=2))
    tmp.replace(path)


def interrupted(out: Path) -> Path | None:
    """``out`` when it holds the last checkpoint of an interrupted training, else None."""
    from ate.checkpoint import has_last

    return out if has_last(out) else None
