"""One call from a path on disk to validated ``Episodes``."""

from __future__ import annotations

import logging
from pathlib import Path

from ate.data.episodes import Episodes, NonFinitePolicy
from ate.data.formats import FORMATS, READERS, detect_format
from ate.data.formats.lerobot import read_lerobot
from ate.errors import DataError

log = logging.getLogger(__name__)


def load_episodes(
    path: str | Path,
    *,
    action_key: str | None = None,
    obs_key: str | None = None,
    format: str = "auto",
    nonfinite: NonFinitePolicy = "error",
    allow_missing: bool = False,
) -> Episodes:
    """Read the action episodes of a dataset, in whatever supported format it is on disk.

    Args:
        path: a dataset folder or file: HDF5 episodes (nested folders, ``train/``/``val/``
            honoured), a robomimic ``.hdf5``, a LeRobot v2.1/v3.0 folder, a Diffusion Policy
            zarr replay buffer, or ``.npz``/``.npy`` files.
        action_key: the array / column holding actions. Default per format: HDF5 ``qpos``
            (then ``action``, ``actions``), robomimic ``actions``, LeRobot and zarr ``action``.
        obs_key: optional per-step observation array / column aligned with the actions,
            e.g. ``observations/state`` (HDF5), ``observation.state`` (LeRobot), ``state``
            (zarr); loaded into ``Episodes.observations`` (N, S).
        format: ``"auto"`` to detect from the layout, or one of ``ate.data.formats.FORMATS``.
        nonfinite: what to do with NaN/inf episodes: ``"error"`` (default), ``"drop"``,
            ``"keep"``.
        allow_missing: LeRobot only: leave out, with a warning that counts them, episodes
            the dataset's metadata lists but its files lack (default: stop, naming them).

    Returns:
        ``Episodes`` with actions of shape (N, D) in float32 and per-episode boundaries.

    Raises:
        DataError: missing path, unknown format, missing key (the message lists the keys that
            exist), ragged or non-numeric arrays, mismatched dims, NaN/inf.
    """
    path = Path(path).expanduser()
    if format == "auto":
        format = detect_format(path)
    elif format not in READERS:
        raise DataError(f"--format {format!r} is not supported; choose one of {FORMATS}.")
    elif not path.exists():
        raise DataError(f"{path}: no such file or folder.")
    if format == "lerobot":  # the one format whose metadata lists its episodes
        raw, key = read_lerobot(path, action_key, obs_key, allow_missing=allow_missing)
    else:
        raw, key = READERS[format](path, action_key, obs_key)
    episodes = Episodes.from_raw(raw, source=path, format=format, action_key=key,
                                 nonfinite=nonfinite)
    log.info("%s: %s, %d episodes, %d steps, %d action dims (key '%s')", path, format,
             len(episodes), episodes.num_steps, episodes.dim, key)
    return episodes
