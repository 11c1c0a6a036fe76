"""HDF5 episodes: one file per episode (the authors' release), or robomimic's single file."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from ate.data.episodes import RawEpisode
from ate.errors import DataError

SUFFIXES = (".hdf5", ".h5", ".he5")
# Tried in order when no key is given: the release reads `qpos`; `action(s)` is common.
DEFAULT_KEYS = ("qpos", "action", "actions")
SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val"}


def natural_key(text: str) -> list[object]:
    """Sort key that orders ``ep_2`` before ``ep_10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def find_files(root: Path) -> list[Path]:
    """All HDF5 files under ``root`` (nested folders included), in natural order."""
    files = [p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(root))))


def split_of(relative: Path) -> str | None:
    """``"train"``/``"val"`` when a folder on the relative path is named like a split."""
    for part in relative.parts[:-1]:
        if part.lower() in SPLIT_FOLDERS:
            return SPLIT_FOLDERS[part.lower()]
    return None


def is_robomimic(path: Path) -> bool:
    """True when the file holds robomimic's ``data/demo_*`` groups."""
    with _open(path) as f:
        data = f.get("data")
        return isinstance(data, h5py.Group) and any(k.startswith("demo") for k in data)


def read_episode_files(path: Path, action_key: str | None, obs_key: str | None = None
                       ) -> tuple[list[RawEpisode], str]:
    """Read a folder of per-episode HDF5 files (or a single such file).

    The action array is the dataset at ``action_key`` (a path such as ``observations/qpos``
    works); without one, the first of ``qpos``, ``action``, ``actions`` present in the first
    file is used for all files. Folders named train/ and val/ set each episode's split;
    ``obs_key`` names an observation dataset; a root attribute ``task`` names the task.
    """
    files = [path] if path.is_file() else find_files(path)
    root = path.parent if path.is_file() else path
    if not files:
        raise DataError(f"{path}: no .hdf5/.h5 files found.")
    key = action_key or _pick_key(files[0], DEFAULT_KEYS)
    episodes = []
    for file in tqdm(files, desc=f"reading {path.name}", unit="file", leave=False,
                     disable=len(files) < 200 or None):
        with _open(file) as f:
            obs = _dataset(f, obs_key, file) if obs_key else None
            episodes.append(RawEpisode(str(file), _dataset(f, key, file),
                                       split_of(file.relative_to(root)), obs, _task(f)))
    return episodes, key


def read_robomimic(path: Path, action_key: str | None, obs_key: str | None = None
                   ) -> tuple[list[RawEpisode], str]:
    """Read robomimic's single file: ``data/demo_*/<action_key>`` (default ``actions``).

    The file's ``mask/train`` and ``mask/valid`` lists, when present, set the splits;
    ``obs_key`` is relative to each demo group (e.g. ``obs/robot0_joint_pos``).
    """
    key = action_key or "actions"
    with _open(path) as f:
        demos = sorted((k for k in f["data"] if k.startswith("demo")), key=natural_key)
        splits = _robomimic_masks(f)
        episodes = [RawEpisode(f"{path}#data/{d}", _dataset(f["data"][d], key, path, d),
                               splits.get(d),
                               _dataset(f["data"][d], obs_key, path, d) if obs_key else None)
                    for d in demos]
    return episodes, key


def write_episode_files(
    out: Path,
    episodes: Sequence[np.ndarray],
    *,
    action_key: str = "qpos",
    split: Sequence[str | None] | None = None,
    extra: Sequence[dict[str, np.ndarray]] | None = None,
    tasks: Sequence[str] | None = None,
) -> list[Path]:
    """Write episodes in the release layout: ``out/[split/]episode_{i}.hdf5`` with ``action_key``.

    Args:
        out: destination folder (created).
        episodes: arrays of shape (n_i, D).
        action_key: dataset name for the actions (the release reads ``qpos``).
        split: optional per-episode ``"train"``/``"val"``, written as sub-folders.
        extra: optional per-episode dict of further datasets (observations, ...).
        tasks: optional per-episode task names, written as the root attribute ``task``.

    Returns:
        The written file paths.
    """
    paths = []
    for i, actions in enumerate(episodes):
        folder = out / split[i] if split and split[i] else out
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"episode_{i}.hdf5"
        tmp = path.with_suffix(".hdf5.tmp")
        with h5py.File(tmp, "w") as f:
            f.create_dataset(action_key, data=np.asarray(actions))
            for name, value in (extra[i] if extra else {}).items():
                f.create_dataset(name, data=value)
            if tasks:
                f.attrs["task"] = tasks[i]
        tmp.replace(path)
        paths.append(path)
    return paths


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file ({exc}).") from exc


def _dataset_paths(group: h5py.Group) -> list[str]:
    names: list[str] = []
    group.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset)
                     else None)
    return names


def _pick_key(file: Path, candidates: Sequence[str]) -> str:
    with _open(file) as f:
        for key in candidates:
            if isinstance(f.get(key), h5py.Dataset):
                return key
        found = _dataset_paths(f)
    raise DataError(f"{file}: none of the default action keys {list(candidates)} exists. "
                    f"Datasets in the file: {found[:20]}. Pass --action-key with one of them.")


def _dataset(group: h5py.Group, key: str, file: Path, where: str = "") -> np.ndarray:
    obj = group.get(key)
    if not isinstance(obj, h5py.Dataset):
        found = _dataset_paths(group)
        at = f" in {where}" if where else ""
        raise DataError(f"{file}: no dataset '{key}'{at}. Datasets there: {found[:20]}. "
                        "Pass --action-key with one of them.")
    if obj.dtype.kind == "O" or obj.dtype.kind in "SUV":
        raise DataError(f"{file}: dataset '{key}'{' in ' + where if where else ''} has dtype "
                        f"{obj.dtype}, not numbers (ragged or string data). Choose the numeric "
                        "action array with --action-key.")
    return obj[()]


def _task(f: h5py.File) -> str | None:
    task = f.attrs.get("task")
    return task.decode() if isinstance(task, bytes) else (str(task) if task is not None
                                                          else None)


def _robomimic_masks(f: h5py.File) -> dict[str, str]:
    masks: dict[str, str] = {}
    for mask_name, split in (("train", "train"), ("valid", "val")):
        if isinstance(f.get(f"mask/{mask_name}"), h5py.Dataset):
            for demo in f[f"mask/{mask_name}"][()]:
                masks[demo.decode() if isinstance(demo, bytes) else str(demo)] = split
    return masks
