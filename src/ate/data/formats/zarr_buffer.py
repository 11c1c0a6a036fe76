"""Diffusion Policy replay buffers: ``data/<key>`` concatenated, ``meta/episode_ends``.

Diffusion Policy writes zarr format v2 (a folder, or a ``.zarr.zip``); zarr 3 reads both.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr
import zarr.storage

from ate.data.episodes import RawEpisode
from ate.errors import DataError


def is_replay_buffer(path: Path) -> bool:
    """True when ``path`` is a folder holding ``data/`` and ``meta/episode_ends``."""
    ends = path / "meta" / "episode_ends"
    return (path / "data").is_dir() and ends.is_dir() and any(
        (ends / marker).exists() for marker in (".zarray", "zarr.json"))


def read_replay_buffer(path: Path, action_key: str | None, obs_key: str | None = None
                       ) -> tuple[list[RawEpisode], str]:
    """Split ``data/<action_key>`` (default ``action``), and ``data/<obs_key>`` when given
    (e.g. ``state``), at ``meta/episode_ends``."""
    key = action_key or "action"
    store = zarr.storage.ZipStore(path, mode="r") if path.is_file() else str(path)
    try:
        root = zarr.open_group(store, mode="r")
    except Exception as exc:  # zarr raises several types for a non-zarr folder
        raise DataError(f"{path}: not a readable zarr group ({exc}).") from exc
    try:
        return _read_episodes(path, root, key, obs_key), key
    except DataError:
        raise
    except Exception as exc:  # zarr parses array metadata lazily, on first access
        raise _unreadable(path, "an array", exc) from None


def _read_episodes(path: Path, root: zarr.Group, key: str, obs_key: str | None
                   ) -> list[RawEpisode]:
    data = root.get("data")
    for wanted in (key, obs_key):
        if wanted and (data is None or wanted not in data):
            found = sorted(data.array_keys()) if data is not None else []
            raise DataError(f"{path}: no array 'data/{wanted}'. Arrays in data/: {found}. "
                            "Pass --action-key / --obs-key with one of them.")
    if "meta" not in root or "episode_ends" not in root["meta"]:
        raise DataError(f"{path}: no 'meta/episode_ends' array; cannot tell episodes apart.")
    actions = _read_array(path, data, key, "data")
    ends = _read_array(path, root["meta"], "episode_ends", "meta").astype(np.int64)
    if len(ends) and (np.any(np.diff(ends) <= 0) or ends[0] <= 0 or ends[-1] != len(actions)):
        raise DataError(f"{path}: meta/episode_ends must be increasing and end at "
                        f"len(data/{key}) = {len(actions)}; it ends at "
                        f"{int(ends[-1]) if len(ends) else None}.")
    obs = _read_array(path, data, obs_key, "data") if obs_key else None
    starts = np.r_[0, ends[:-1]]
    return [RawEpisode(f"{path}#episode_{i}", actions[s:e], None,
                       None if obs is None else obs[s:e])
            for i, (s, e) in enumerate(zip(starts, ends, strict=True))]


def _unreadable(path: Path, what: str, exc: Exception) -> DataError:
    if "pickle" in str(exc) or "|O" in str(exc):
        return DataError(f"{path}: {what} holds Python objects (the pickle codec); ate reads "
                         "numeric arrays only and never unpickles: rewrite it as a float "
                         "array.")
    return DataError(f"{path}: {what} cannot be read ({exc}).")


def _read_array(path: Path, group: zarr.Group, name: str, where: str) -> np.ndarray:
    """``group[name]`` as a numeric numpy array; object arrays (the pickle codec) are refused
    before anything is decoded, and zarr's own errors become one line."""
    try:
        values = np.asarray(group[name][...])
    except Exception as exc:  # zarr raises several types for arrays it cannot decode
        raise _unreadable(path, f"{where}/{name}", exc) from None
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise DataError(f"{path}: {where}/{name} has dtype {values.dtype}, not numbers; "
                        "rewrite it as a float array.")
    return values


def write_replay_buffer(out: Path, episodes: list[np.ndarray], action_key: str = "action",
                        observations: list[np.ndarray] | None = None, obs_key: str = "state"
                        ) -> Path:
    """Write episodes as Diffusion Policy does: zarr format v2, ``data/`` + ``meta/``."""
    root = zarr.open_group(str(out), mode="w", zarr_format=2)
    data = root.create_group("data")
    data.create_array(action_key, data=np.concatenate(episodes))
    if observations is not None:
        data.create_array(obs_key, data=np.concatenate(observations))
    root.create_group("meta").create_array(
        "episode_ends", data=np.cumsum([len(e) for e in episodes]).astype(np.int64))
    return out
