"""``ate data inspect | convert | synth``."""

from __future__ import annotations

import json as jsonlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro
from rich.console import Console
from rich.table import Table

from ate.config import save_yaml
from ate.data.config import DataConfig
from ate.data.episodes import Episodes, RawEpisode
from ate.data.formats.hdf5 import write_episode_files
from ate.data.formats.lerobot import write_lerobot
from ate.data.load import load_episodes
from ate.data.prepare import prepare_chunks
from ate.data.summary import summarize
from ate.data.synthetic import synthetic_episodes
from ate.errors import ConfigError, DataError
from ate.folder_lock import exclusive


def data_inspect(
    path: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="PATH")],
    action_key: str | None = None,
    obs_key: str | None = None,
    format: str = "auto",
    chunk_length: int | None = None,
    drop_nonfinite: bool = False,
    allow_missing: bool = False,
    json: bool = False,
) -> None:
    """Summarise a dataset: format, episodes, lengths, action dim, per-dim stats, problems.

    Args:
        path: dataset folder or file (HDF5, robomimic, LeRobot, zarr, npz/npy).
        action_key: array / column holding the actions (default: the format's own).
        obs_key: also read this per-step observation array / column.
        format: auto, hdf5, robomimic, lerobot, zarr or numpy.
        chunk_length: also count the chunk windows of this length H.
        drop_nonfinite: leave out episodes with NaN/inf (they are reported otherwise).
        allow_missing: LeRobot: summarise the complete episodes when the metadata lists
            some that the data files lack (counted in a warning) instead of stopping.
        json: print JSON instead of tables.
    """
    episodes = load_episodes(path, action_key=action_key, obs_key=obs_key, format=format,
                             nonfinite="drop" if drop_nonfinite else "keep",
                             allow_missing=allow_missing)
    summary = summarize(episodes, chunk_length)
    if json:
        print(jsonlib.dumps(summary, indent=2))
        return
    print_summary(summary)


def print_summary(summary: dict[str, object], console: Console | None = None) -> None:
    """Render ``summarize``'s output as two tables and a list of problems."""
    console = console or Console()
    length = summary["length"]
    head = Table(title=f"{summary['path']}", show_header=False)
    for label, value in (
        ("format", summary["format"]), ("action key", summary["action_key"]),
        ("episodes", summary["episodes"]), ("steps", summary["steps"]),
        ("action dim", summary["action_dim"]),
        ("observation dim", summary["obs_dim"] or "not read (--obs-key)"),
        ("tasks", ", ".join(summary["tasks"][:8]) or "none labelled"),
        ("length min / median / max", f"{length['min']} / {length['median']:g} / "
                                      f"{length['max']}"),
        ("splits", ", ".join(f"{k}: {v}" for k, v in summary["splits"].items())),
    ):
        head.add_row(label, str(value))
    if "chunks" in summary:
        c = summary["chunks"]
        head.add_row(f"windows of H={c['chunk_length']}",
                     f"{c['windows']} ({c['episodes_too_short']} episodes too short)")
    console.print(head)
    dims = Table(title="per action dim (finite values)")
    for col in ("dim", "min", "max", "mean", "std", "NaN/inf"):
        dims.add_column(col, justify="right")
    for d in summary["dims"]:
        dims.add_row(str(d["index"]), *(_fmt(d[k]) for k in ("min", "max", "mean", "std")),
                     str(d["nonfinite"]))
    console.print(dims)
    if summary["constant_dims"]:
        console.print(f"[yellow]constant dims (no information, normalised to 0):[/] "
                      f"{summary['constant_dims']}")
    if summary["nonfinite_episodes"]:
        console.print(f"[red]{summary['nonfinite_episodes']} episodes hold NaN/inf[/], e.g. "
                      f"{summary['nonfinite_episode_names'][:3]}; training stops on them unless "
                      "--drop-nonfinite is given.")
    if summary["nonfinite_dropped"]:
        console.print(f"dropped {summary['nonfinite_dropped']} episodes with NaN/inf.")


def data_convert(
    src: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="SRC")],
    out: str,
    to: Literal["hdf5", "lerobot"] = "lerobot",
    action_key: str | None = None,
    obs_key: str | None = None,
    format: str = "auto",
    fps: float = 10.0,
) -> None:
    """Rewrite a dataset's actions as HDF5 episodes (release layout) or LeRobot v3.0.

    Splits travel: as train/ and val/ folders in HDF5, as ``splits`` ranges in LeRobot.

    Args:
        src: dataset to read (any supported format).
        out: folder to write; must not exist.
        to: target format.
        action_key: source array / column (default: the format's own).
        obs_key: also carry this observation array (written as ``observations/state`` in
            HDF5, ``observation.state`` in LeRobot).
        format: source format, or auto.
        fps: frame rate written to LeRobot's info.json.
    """
    episodes = load_episodes(src, action_key=action_key, obs_key=obs_key, format=format)
    dest = Path(out)
    if dest.exists():
        raise DataError(f"{dest}: already exists; choose a new --out.")
    # written beside it and renamed into place: a killed convert leaves no half dataset, and
    # of two converts to one --out the second to finish is refused instead of mixing files
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    write_dataset(episodes, tmp, to, fps=fps)
    try:
        tmp.rename(dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{dest}: written by another process meanwhile; choose a new --out "
                        "(nothing of this run was kept).") from None
    print(f"wrote {len(episodes)} episodes ({episodes.num_steps} steps, D={episodes.dim}) "
          f"to {dest} as {to}")


def write_dataset(episodes: Episodes, out: Path, to: Literal["hdf5", "lerobot"],
                  fps: float = 10.0) -> None:
    """Write ``episodes`` (splits, observations and task names included) in the release HDF5
    layout or LeRobot v3.0."""
    arrays = [episodes.episode(i) for i in range(len(episodes))]
    obs = None
    if episodes.observations is not None:
        starts = episodes.starts
        obs = [episodes.observations[starts[i]:episodes.ends[i]] for i in range(len(episodes))]
    tasks = ([t or "default" for t in episodes.tasks] if episodes.tasks is not None else None)
    if to == "hdf5":
        write_episode_files(out, arrays, split=episodes.splits, tasks=tasks,
                            extra=[{"observations/state": o} for o in obs] if obs else None)
        return
    # LeRobot splits are index ranges: put train episodes first, val after.
    order = sorted(range(len(arrays)), key=lambda i: episodes.splits[i] == "val")
    n_train = sum(1 for s in episodes.splits if s != "val")
    splits = {"train": f"0:{n_train}"}
    if n_train < len(arrays):
        splits["val"] = f"{n_train}:{len(arrays)}"
    write_lerobot(out, [arrays[i] for i in order], fps=fps, splits=splits,
                  tasks=[tasks[i] for i in order] if tasks else None,
                  extra=[{"observation.state": obs[i]} for i in order] if obs else None)


def data_generate(
    out: str,
    suite: Literal["metaworld", "robosuite", "robosuite-eef"] = "metaworld",
    tasks: tuple[str, ...] = ("reach-v3", "push-v3"),
    robots: tuple[str, ...] = (),
    episodes: int = 10,
    seed: int = 0,
    workers: int = 1,
    format: Literal["hdf5", "lerobot"] = "hdf5",
) -> None:
    """Record scripted-expert demos in a simulator (the `sim` extra); resumable.

    Writes out/<task>/episode_<i>.hdf5 (robosuite: out/<robot>/<task>/...) with action,
    observations/state, and task, seed (and robot) attributes, keeping successful episodes
    only; read them with `--obs-key observations/state`. With `--format lerobot` the
    episodes are recorded in out/hdf5 and the whole set is written as a LeRobot v3.0 dataset
    to out/lerobot at the end.

    Args:
        out: output folder; episodes already there are kept and counted.
        suite: simulator suite; ``robosuite`` records joint-position labels,
            ``robosuite-eef`` the expert's end-effector (OSC_POSE) commands.
        tasks: task names (Meta-World: reach-v3, push-v3, ...; robosuite: Lift, Stack).
        robots: robosuite arms (Panda, Sawyer, IIWA, Jaco, Kinova3, XArm7, UR5e).
        episodes: successful demos per task (and robot).
        seed: demo seeds derive from it (evaluation seeds never overlap them).
        workers: (task, robot) jobs generated in parallel processes.
        format: hdf5 (one file per episode) or lerobot (converted at the end).
    """
    if suite.startswith("robosuite") and not robots:
        raise ConfigError("robosuite needs --robots (e.g. --robots Panda UR5e).")
    with exclusive(Path(out), "ate data generate"):
        _generate(Path(out), suite, tasks, robots, episodes, seed, workers, format)


def _generate(out: Path, suite: str, tasks: tuple[str, ...], robots: tuple[str, ...],
              episodes: int, seed: int, workers: int, format: str) -> None:
    from ate.sim.generate import generate

    record = out / "hdf5" if format == "lerobot" else out
    reports = generate(suite, list(tasks), episodes, record, seed, workers, robots)
    table = Table(title=f"{suite} demos in {record}")
    for col in ("robot", "task", "kept", "reused", "new attempts",
                "expert success (all runs)"):
        table.add_column(col, justify="right")
    for r in reports:
        table.add_row(r.robot or "-", r.task, str(r.kept), str(r.reused), str(r.attempts),
                      f"{r.expert_success:.0%}" if r.total_attempts else "-")
    Console().print(table)
    short = [f"{r.robot}/{r.task}" if r.robot else r.task for r in reports if r.kept < episodes]
    if short:
        raise DataError(f"the expert solved too few episodes of {short} within 3x the "
                        "requested attempts; run again (it resumes) or lower --episodes.")
    if format == "lerobot":
        dest = out / "lerobot"
        shutil.rmtree(dest, ignore_errors=True)  # rebuilt from the recorded episodes
        write_dataset(load_episodes(record, obs_key="observations/state"), dest, "lerobot")
        print(f"wrote the LeRobot v3.0 dataset {dest}")


def data_synth(
    out: str,
    dims: tuple[int, ...] = (7, 14),
    episodes: int = 50,
    to: Literal["hdf5", "lerobot"] = "hdf5",
    seed: int = 0,
) -> None:
    """Write smooth synthetic demos for several robots, one dataset per robot in out/d{D}/.

    Robots share a low-dimensional motion but map it to their own D dims (see
    ``ate.data.synthetic``): a stand-in for real demos until the simulator suites run.

    Args:
        out: parent folder.
        dims: action dim of each robot.
        episodes: episodes per robot.
        to: hdf5 (release layout, key qpos) or lerobot (v3.0).
        seed: episode randomness; robot i's embodiment is fixed by i.
    """
    with exclusive(Path(out), "ate data synth"):
        for i, dim in enumerate(dims):
            arrays = synthetic_episodes(episodes, dim, embodiment_seed=i, seed=seed + 1000 * i)
            dest = Path(out) / f"d{dim}"
            ep = Episodes.from_raw([RawEpisode(f"synthetic_{j}", a)
                                    for j, a in enumerate(arrays)])
            write_dataset(ep, dest, to)
            print(f"wrote {episodes} episodes of a {dim}-d robot to {dest} ({to})")


def _fmt(x: float | None) -> str:
    return "nan" if x is None else f"{x:.4g}"




@dataclass
class PrepareConfig:
    """``ate data prepare``: the data section of a training config, checked end to end.

    Attributes:
        data: which episodes and how to chunk them.
        out: if set, write ``normalizer.json`` and the resolved ``config.yaml`` here.
    """

    data: DataConfig = field(default_factory=DataConfig)
    out: str | None = None


def data_prepare(config: PrepareConfig) -> None:
    """Load, split, fit the normaliser and cut windows exactly as training will; report it."""
    prepared = prepare_chunks(config.data)
    console = Console()
    table = Table(title=f"{config.data.path}: chunks of H={config.data.chunk_length}")
    for col in ("split", "episodes", "windows", "skipped (too short)"):
        table.add_column(col, justify="right")
    for name, ds in (("train", prepared.train), ("val", prepared.val)):
        if ds is not None:
            table.add_row(name, str(len(ds.episodes)), str(len(ds)), str(ds.skipped_episodes))
    console.print(table)
    console.print(f"normaliser {prepared.normalizer.kind} fitted on train; unified vector "
                  f"U={prepared.slots.size}, real slots {list(prepared.slots.indices)}")
    if config.out:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        prepared.normalizer.save(out / "normalizer.json")
        save_yaml(config, out / "config.yaml")
        console.print(f"wrote {out / 'normalizer.json'} and {out / 'config.yaml'}")
