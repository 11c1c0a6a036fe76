"""Readers (and two writers) for the on-disk formats robot datasets come in.

Each reader takes a path and an optional action key and returns ``RawEpisode``s; the data
layer validates and packs them (``ate.data.load_episodes``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ate.data.episodes import RawEpisode
from ate.data.formats import hdf5, lerobot, numpy_arrays, zarr_buffer
from ate.errors import DataError

# (path, action_key, obs_key) -> (episodes, the action key actually used)
Reader = Callable[[Path, "str | None", "str | None"], tuple[list[RawEpisode], str]]

READERS: dict[str, Reader] = {
    "hdf5": hdf5.read_episode_files,
    "robomimic": hdf5.read_robomimic,
    "lerobot": lerobot.read_lerobot,
    "zarr": zarr_buffer.read_replay_buffer,
    "numpy": numpy_arrays.read_numpy,
}

FORMATS = tuple(READERS)


def detect_format(path: Path) -> str:
    """Name the format of ``path`` from its layout alone (no data is read).

    Raises:
        DataError: the path does not exist, or nothing in it looks like a known format.
    """
    if not path.exists():
        raise DataError(f"{path}: no such file or folder. Check the path (relative paths are "
                        f"taken from {Path.cwd()}).")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in hdf5.SUFFIXES:
            return "robomimic" if hdf5.is_robomimic(path) else "hdf5"
        if suffix in (".npz", ".npy"):
            return "numpy"
        if path.name.endswith(".zarr.zip"):
            return "zarr"
        raise DataError(f"{path}: unknown file type '{suffix}'. Supported: {_supported()}.")
    if (path / "meta" / "info.json").is_file():
        return "lerobot"
    if zarr_buffer.is_replay_buffer(path):
        return "zarr"
    if hdf5.find_files(path):
        return "hdf5"
    if numpy_arrays.find_files(path):
        return "numpy"
    raise DataError(f"{path}: no known dataset layout inside. Supported: {_supported()}. "
                    "Pass --format to force one.")


def _supported() -> str:
    return ("a folder of .hdf5/.h5 episodes, a robomimic .hdf5 (data/demo_*), a LeRobot "
            "folder (meta/info.json), a zarr replay buffer (data/action, meta/episode_ends), "
            ".npz/.npy files")
