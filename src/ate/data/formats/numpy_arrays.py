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


def read_numpy(path: Path, action_key: str | None, obs_key: str | None = None
               ) -> tuple[list[RawEpisode], str]:
    """Read one file or a folder of files (see the module docstring for the layouts).

    Observations (``obs_key``) are read from ``.npz`` files holding ``episode_ends``.
    """
    files = [path] if path.is_file() else find_files(path)
    root = path.parent if path.is_file() else path
    if not files:
        raise DataError(f"{path}: no .npy/.npz files found.")
    episodes: list[RawEpisode] = []
    used = action_key or "array"
    for file in files:
        split = split_of(file.relative_to(root))
        if file.suffix == ".npy":
            if obs_key:
                raise DataError(f"{file}: a .npy file holds actions only; store observations "
                                "in an .npz with episode_ends to use --obs-key.")
            episodes.append(RawEpisode(str(file), _load(file), split))
            continue
        found, used = _read_npz(file, action_key, obs_key)
        episodes.extend(RawEpisode(name, a, split, obs) for name, a, obs in found)
    return episodes, used


def _load(file: Path) -> np.ndarray:
    try:
        return np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{file}: holds Python objects (a pickle), which are not loaded for "
                        "safety. Save actions as a numeric array: np.save(path, np.asarray(a, "
                        "dtype=np.float32)).") from exc


def _read_npz(file: Path, action_key: str | None, obs_key: str | None
              ) -> tuple[list[tuple[str, np.ndarray, np.ndarray | None]], str]:
    with np.load(file, allow_pickle=False) as npz:
        keys = list(npz.keys())
        ends_key = next((k for k in ENDS_KEYS if k in keys), None)
        key = action_key or next((k for k in DEFAULT_KEYS if k in keys), None)
        for wanted in (action_key, obs_key):
            if wanted and wanted not in keys:
                raise DataError(f"{file}: no array '{wanted}'. Arrays: {keys}. "
                                "Pass --action-key / --obs-key with one of them.")
        if obs_key and ends_key is None:
            raise DataError(f"{file}: --obs-key needs the layout with '{ENDS_KEYS[0]}'.")
        try:
            if key is not None and ends_key is not None:
                actions, ends = npz[key], npz[ends_key].astype(np.int64)
                if len(ends) == 0 or ends[-1] != len(actions) or np.any(np.diff(ends) <= 0):
                    raise DataError(f"{file}: '{ends_key}' must be increasing and end at "
                                    f"len('{key}') = {len(actions)}.")
                obs = npz[obs_key] if obs_key else None
                starts = np.r_[0, ends[:-1]]
                return [(f"{file}#episode_{i}", actions[s:e], None if obs is None else obs[s:e])
                        for i, (s, e) in enumerate(zip(starts, ends, strict=True))], key
            if key is not None:
                return [(f"{file}#{key}", npz[key], None)], key
            # No action-named array: every array is one episode (episode_0, episode_1, ...).
            return [(f"{file}#{k}", npz[k], None) for k in sorted(keys, key=natural_key)], \
                "array"
        except ValueError as exc:
            raise DataError(f"{file}: holds Python objects (a pickle, e.g. a ragged list), "
                            "which are not loaded for safety. Store one numeric array per "
                            "episode.") from exc
