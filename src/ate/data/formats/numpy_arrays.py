"""NumPy files: ``.npy`` (one episode) and ``.npz`` (one array per episode, or concatenated
actions plus ``episode_ends``), single files or a folder of them. Pickles are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ate.data.episodes import RawEpisode
from ate.data.formats.hdf5 import natural_key, split_of
from ate.errors import DataError

ENDS_KEYS = ("episode_ends", "ends")
DEFAULT_KEYS = ("action", "actions", "qpos")


def find_files(root: Path) -> list[Path]:
    """All ``.npy``/``.npz`` files under ``root``, in natural order."""
    files = [p for p in root.rglob("*") if p.suffix in (".npy", ".npz") and p.is_file()]
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(root))))


def read_numpy(path: Path, action_key: str | None) -> tuple[list[RawEpisode], str]:
    """Read one file or a folder of files (see the module docstring for the layouts)."""
    files = [path] if path.is_file() else find_files(path)
    root = path.parent if path.is_file() else path
    if not files:
        raise DataError(f"{path}: no .npy/.npz files found.")
    episodes: list[RawEpisode] = []
    used = action_key or "array"
    for file in files:
        split = split_of(file.relative_to(root))
        if file.suffix == ".npy":
            episodes.append(RawEpisode(str(file), _load(file), split))
            continue
        found, used = _read_npz(file, action_key)
        episodes.extend(RawEpisode(name, a, split) for name, a in found)
    return episodes, used


def _load(file: Path) -> np.ndarray:
    try:
        return np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{file}: holds Python objects (a pickle), which are not loaded for "
                        "safety. Save actions as a numeric array: np.save(path, np.asarray(a, "
                        "dtype=np.float32)).") from exc


def _read_npz(file: Path, action_key: str | None) -> tuple[list[tuple[str, np.ndarray]], str]:
    with np.load(file, allow_pickle=False) as npz:
        keys = list(npz.keys())
        ends_key = next((k for k in ENDS_KEYS if k in keys), None)
        key = action_key or next((k for k in DEFAULT_KEYS if k in keys), None)
        if action_key and action_key not in keys:
            raise DataError(f"{file}: no array '{action_key}'. Arrays: {keys}. "
                            "Pass --action-key with one of them.")
        try:
            if key is not None and ends_key is not None:
                actions, ends = npz[key], npz[ends_key].astype(np.int64)
                if len(ends) == 0 or ends[-1] != len(actions) or np.any(np.diff(ends) <= 0):
                    raise DataError(f"{file}: '{ends_key}' must be increasing and end at "
                                    f"len('{key}') = {len(actions)}.")
                starts = np.r_[0, ends[:-1]]
                return [(f"{file}#episode_{i}", actions[s:e]) for i, (s, e) in
                        enumerate(zip(starts, ends, strict=True))], key
            if key is not None:
                return [(f"{file}#{key}", npz[key])], key
            # No action-named array: every array is one episode (episode_0, episode_1, ...).
            return [(f"{file}#{k}", npz[k]) for k in sorted(keys, key=natural_key)], "array"
        except ValueError as exc:
            raise DataError(f"{file}: holds Python objects (a pickle, e.g. a ragged list), "
                            "which are not loaded for safety. Store one numeric array per "
                            "episode.") from exc
