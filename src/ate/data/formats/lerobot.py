"""LeRobot datasets (v2.1: one parquet per episode; v3.0: many episodes per file), via pyarrow.

No dependency on the lerobot package: the layout is read from ``meta/info.json`` and the
parquet files under ``data/``; only the episode, frame and action columns are loaded.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ate.data.episodes import RawEpisode
from ate.data.formats.hdf5 import natural_key
from ate.errors import DataError

log = logging.getLogger(__name__)

KNOWN_VERSIONS = ("v2.0", "v2.1", "v3.0")
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "valid": "val",
               "test": "val"}


def read_lerobot(path: Path, action_key: str | None, obs_key: str | None = None,
                 allow_missing: bool = False) -> tuple[list[RawEpisode], str]:
    """Read the ``action_key`` column (default ``action``) of every episode of a LeRobot folder,
    and the ``obs_key`` column (e.g. ``observation.state``) when given.

    Rows are ordered by ``(episode_index, frame_index)``; ``meta/info.json``'s ``splits``
    labels episodes as train/val when it names more than a train range; task names come from
    ``task_index`` and the tasks table. The episodes found are checked against the dataset's
    own metadata (``meta/episodes``, ``total_episodes``, ``features`` shapes, ``fps``).

    Args:
        allow_missing: episodes listed in the metadata but absent from ``data/`` (or
            shorter there) are left out with a warning that counts them, instead of
            stopping with an error that names their files.
    """
    info = _read_info(path)
    version = str(info.get("codebase_version", "?"))
    if version not in KNOWN_VERSIONS:
        log.warning("%s: codebase_version %s is not one of %s; reading it as v3.0",
                    path, version, KNOWN_VERSIONS)
    key = action_key or "action"
    features = info.get("features") or {}
    if not isinstance(features, dict):
        raise DataError(f"{path / 'meta/info.json'}: 'features' must be a mapping of feature "
                        f"name to its dtype and shape, got {features!r}.")
    fps = info.get("fps")
    if fps is not None and (isinstance(fps, bool) or not isinstance(fps, int | float)
                            or not fps > 0):
        raise DataError(f"{path / 'meta/info.json'}: 'fps' must be a positive number of "
                        f"frames per second, got {fps!r}.")
    for wanted in (key, obs_key):
        if wanted and features and wanted not in features:
            raise DataError(f"{path / 'meta/info.json'}: no feature '{wanted}'. Features: "
                            f"{sorted(features)}. Pass --action-key / --obs-key with one of them.")
    files = sorted((path / "data").rglob("*.parquet"), key=lambda p: natural_key(str(p)))
    if not files:
        raise DataError(f"{path / 'data'}: no parquet files. Is the dataset fully downloaded?")
    episode_ids, frame_ids, task_ids, actions, observations, file_of_row = [], [], [], [], [], []
    for file in files:
        names = pq.read_schema(file).names
        for column in ("episode_index", key, obs_key):
            if column and column not in names:
                raise DataError(f"{file}: no column '{column}'. Columns: {names}. "
                                "Pass --action-key / --obs-key with an existing column.")
        optional = [c for c in ("frame_index", "task_index") if c in names]
        table = pq.read_table(file, columns=["episode_index", key, *optional]
                              + ([obs_key] if obs_key else []))
        eps = table.column("episode_index").to_numpy()
        episode_ids.append(eps)
        frame_ids.append(table.column("frame_index").to_numpy() if "frame_index" in names
                         else np.arange(len(eps)))
        task_ids.append(table.column("task_index").to_numpy() if "task_index" in names
                        else np.full(len(eps), -1))
        actions.append(list_column_to_array(table.column(key), file, key))
        if obs_key:
            observations.append(list_column_to_array(table.column(obs_key), file, obs_key))
        file_of_row.append(np.full(len(eps), len(file_of_row)))
    eps, frames = np.concatenate(episode_ids), np.concatenate(frame_ids)
    order = np.lexsort((frames, eps))
    eps, rows = eps[order], _concat_dims(actions, files, key)[order]
    obs = _concat_dims(observations, files, obs_key)[order] if obs_key else None
    _check_shape(path, features, key, rows.shape[1])
    if obs is not None:
        _check_shape(path, features, obs_key, obs.shape[1])
    tasks_of_rows = np.concatenate(task_ids)[order]
    first_file = np.concatenate(file_of_row)[order]
    boundaries = np.flatnonzero(np.diff(eps)) + 1
    splits = _episode_splits(info)
    task_names = _task_names(path)
    spans = list(zip(np.r_[0, boundaries], np.r_[boundaries, len(eps)], strict=True))
    incomplete = check_episodes(path, info, {int(eps[a]): int(b - a) for a, b in spans},
                                allow_missing)
    episodes = []
    for start, stop in spans:
        idx = int(eps[start])
        if idx in incomplete:
            continue
        name = f"{files[first_file[start]]}#episode_{idx}"
        episodes.append(RawEpisode(name, rows[start:stop], splits.get(idx),
                                   None if obs is None else obs[start:stop],
                                   task_names.get(int(tasks_of_rows[start]))))
    return episodes, key


def _check_shape(path: Path, features: dict, key: str, width: int) -> None:
    """A feature's declared shape must hold as many values as each of its rows."""
    spec = features.get(key)
    shape = spec.get("shape") if isinstance(spec, dict) else None
    if shape is None:
        return
    if not (isinstance(shape, list) and all(isinstance(n, int) for n in shape)):
        raise DataError(f"{path / 'meta/info.json'}: features.{key}.shape must be a list of "
                        f"integers, got {shape!r}.")
    if int(np.prod(shape)) != width:
        raise DataError(f"{path / 'meta/info.json'}: features.{key}.shape is {shape} but the "
                        f"data's '{key}' rows hold {width} values; fix the shape in "
                        "meta/info.json or check that the data belongs to this dataset.")


def expected_episodes(path: Path, info: dict) -> dict[int, tuple[int | None, str | None]]:
    """What the metadata says the dataset holds: episode index -> (length, data file), from
    ``meta/episodes/*.parquet`` (v3.0) or ``meta/episodes.jsonl`` (v2.x); else only a count
    (``total_episodes``: indices 0..n-1 of unknown length). Empty when nothing says."""
    template = info.get("data_path") if isinstance(info.get("data_path"), str) else None
    chunk_size = info.get("chunks_size") if isinstance(info.get("chunks_size"), int) else 1000
    rows: list[dict] = []
    parquet = sorted((path / "meta/episodes").rglob("*.parquet"))
    jsonl = path / "meta/episodes.jsonl"
    try:
        if parquet:
            for file in parquet:
                names = pq.read_schema(file).names
                wanted = [c for c in ("episode_index", "length", "data/chunk_index",
                                      "data/file_index") if c in names]
                rows += pq.read_table(file, columns=wanted).to_pylist()
        elif jsonl.is_file():
            rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"{path / 'meta'}: the episode table cannot be read ({exc}).") from None
    if not rows:
        total = info.get("total_episodes")
        return ({i: (None, None) for i in range(total)}
                if isinstance(total, int) and not isinstance(total, bool) else {})
    out: dict[int, tuple[int | None, str | None]] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("episode_index"), int):
            continue
        idx = row["episode_index"]
        fields = {"episode_index": idx, "episode_chunk": idx // max(chunk_size, 1),
                  "chunk_index": row.get("data/chunk_index"),
                  "file_index": row.get("data/file_index")}
        try:
            file = template.format(**fields) if template else None
        except (KeyError, ValueError, TypeError):
            file = None
        if file is None and None not in (fields["chunk_index"], fields["file_index"]):
            file = DATA_PATH.format(**fields)
        length = row.get("length")
        out[idx] = (length if isinstance(length, int) else None, file)
    return out


def check_episodes(path: Path, info: dict, found: dict[int, int], allow_missing: bool
                   ) -> set[int]:
    """Compare the episodes found in ``data/`` (index -> frames) with the metadata's.

    Returns:
        the indices of episodes found but shorter or longer than the metadata says (to be
        left out; only with ``allow_missing``).

    Raises:
        DataError: episodes missing or of the wrong length, without ``allow_missing``.
    """
    expected = expected_episodes(path, info)
    if not expected:
        return set()
    missing = sorted(set(expected) - set(found))
    wrong = {i: (found[i], n) for i, (n, _) in expected.items()
             if i in found and n is not None and found[i] != n}
    extra = sorted(set(found) - set(expected))
    if extra:
        log.warning("%s: %d episodes in data/ are not in the metadata (e.g. %s); read anyway",
                    path, len(extra), extra[:5])
    if not missing and not wrong:
        return set()
    files = sorted({f for i in missing if (f := expected[i][1])})
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (episodes {_few(missing)}"
                     + (f"; files {_few(files)}" if files else "") + ")")
    if wrong:
        parts.append(f"{len(wrong)} of another length than meta/ says (" + ", ".join(
            f"episode {i}: {a} frames, meta {b}" for i, (a, b) in list(wrong.items())[:3])
            + ")")
    complete = len(expected) - len(missing) - len(wrong)
    what = (f"{path}: the metadata lists {len(expected)} episodes; " + "; ".join(parts))
    if not allow_missing:
        raise DataError(f"{what}. Download the dataset again, or pass --allow-missing "
                        f"(data.allow_missing) to use the {complete} complete ones.")
    log.warning("%s. Using the %d complete ones (--allow-missing).", what, complete)
    return set(wrong)


def _few(items: list) -> str:
    return ", ".join(map(str, items[:5])) + (f" and {len(items) - 5} more" if len(items) > 5
                                             else "")


def _task_names(path: Path) -> dict[int, str]:
    """task_index -> task, from meta/tasks.parquet (v3.0) or meta/tasks.jsonl (v2.1)."""
    parquet, jsonl = path / "meta/tasks.parquet", path / "meta/tasks.jsonl"
    if parquet.is_file():
        table = pq.read_table(parquet)
        names = table.column_names
        # lerobot writes the task as the pandas index; ate's writer as a `task` column
        column = next((c for c in ("task", "__index_level_0__") if c in names), None)
        if column is None or "task_index" not in names:
            return {}
        return dict(zip(table.column("task_index").to_pylist(),
                        map(str, table.column(column).to_pylist()), strict=True))
    if jsonl.is_file():
        rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        return {int(r["task_index"]): str(r["task"]) for r in rows if "task_index" in r}
    return {}


def list_column_to_array(column: pa.ChunkedArray, file: Path, key: str) -> np.ndarray:
    """A parquet column of fixed-size (or equal-length) lists as an (n, D) array.

    Raises:
        DataError: null rows, rows of different lengths, or non-numeric values.
    """
    arr = column.combine_chunks()
    if arr.null_count:
        raise DataError(f"{file}: column '{key}' has {arr.null_count} null rows.")
    if pa.types.is_fixed_size_list(arr.type):
        width = arr.type.list_size
    elif pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        lengths = pc.list_value_length(arr).to_numpy()
        if len(lengths) and lengths.min() != lengths.max():
            raise DataError(f"{file}: column '{key}' is ragged: rows have {lengths.min()} to "
                            f"{lengths.max()} values. Every step needs the same action dims.")
        width = int(lengths[0]) if len(lengths) else 0
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return arr.to_numpy(zero_copy_only=False)[:, None]
    else:
        raise DataError(f"{file}: column '{key}' has type {arr.type}, not a numeric vector.")
    values = arr.flatten()
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise DataError(f"{file}: column '{key}' holds {values.type}, not numbers.")
    return values.to_numpy(zero_copy_only=False).reshape(len(arr), width)


def write_lerobot(
    out: Path,
    episodes: Sequence[np.ndarray],
    *,
    fps: float = 10.0,
    action_key: str = "action",
    tasks: Sequence[str] | None = None,
    extra: Sequence[dict[str, np.ndarray]] | None = None,
    splits: dict[str, str] | None = None,
    robot_type: str = "unknown",
    frames_per_file: int = 1_000_000,
    overwrite: bool = False,
) -> Path:
    """Write a LeRobot v3.0 dataset folder (no videos), many episodes per parquet file.

    Args:
        out: destination folder; written beside it first and renamed, so a killed write
            leaves no half dataset.
        episodes: per-episode actions, shape (n_i, D).
        fps: frame rate, for ``timestamp`` = frame_index / fps (seconds).
        action_key: column name for the actions.
        tasks: per-episode task strings (default ``"default"``).
        extra: per-episode dict of further per-frame arrays (n_i, k), e.g.
            ``{"observation.state": ...}``.
        splits: LeRobot split ranges, e.g. ``{"train": "0:40", "val": "40:50"}``.
        robot_type: written to ``meta/info.json``.
        frames_per_file: roll to a new data file after this many frames.
        overwrite: replace ``out`` if it exists.

    Returns:
        ``out``.
    """
    if out.exists() and not overwrite:
        raise DataError(f"{out}: already exists. Choose another --out or pass overwrite=True.")
    if not episodes:
        raise DataError(f"{out}: no episodes to write.")
    tasks = list(tasks) if tasks is not None else ["default"] * len(episodes)
    task_names = list(dict.fromkeys(tasks))
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    dim = np.asarray(episodes[0]).reshape(len(episodes[0]), -1).shape[1]
    extra_shapes: dict[str, int] = {}
    extra_columns: dict[str, list[np.ndarray]] = {}
    episode_rows: list[dict[str, object]] = []
    tables: list[pa.Table] = []
    file_index, file_frames, index = 0, 0, 0

    def flush() -> None:
        nonlocal tables, file_index, file_frames
        if tables:
            target = tmp / DATA_PATH.format(chunk_index=0, file_index=file_index)
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(tables), target)
            tables, file_index, file_frames = [], file_index + 1, 0

    for i, actions in enumerate(episodes):
        actions = np.asarray(actions, dtype=np.float32).reshape(len(episodes[i]), -1)
        if actions.shape[1] != dim:
            raise DataError(f"episode {i}: {actions.shape[1]} action dims, episode 0 has {dim}.")
        if file_frames and file_frames + len(actions) > frames_per_file:
            flush()
        n = len(actions)
        columns = {
            action_key: _fixed_list(actions),
            "timestamp": pa.array(np.arange(n, dtype=np.float32) / np.float32(fps)),
            "frame_index": pa.array(np.arange(n, dtype=np.int64)),
            "episode_index": pa.array(np.full(n, i, dtype=np.int64)),
            "index": pa.array(np.arange(index, index + n, dtype=np.int64)),
            "task_index": pa.array(np.full(n, task_names.index(tasks[i]), dtype=np.int64)),
        }
        for name, value in (extra[i] if extra else {}).items():
            value = np.asarray(value, dtype=np.float32).reshape(n, -1)
            extra_shapes[name] = value.shape[1]
            extra_columns.setdefault(name, []).append(value.astype(np.float64))
            columns[name] = _fixed_list(value)
        tables.append(pa.table(columns))
        episode_rows.append({
            "episode_index": i, "tasks": [tasks[i]], "length": n,
            "data/chunk_index": 0, "data/file_index": file_index,
            "dataset_from_index": index, "dataset_to_index": index + n,
            "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0,
        })
        index += n
        file_frames += n
    flush()
    _write_meta(tmp, episodes, episode_rows, task_names, dim, extra_shapes, extra_columns,
                action_key, fps, splits, robot_type, index)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _write_meta(tmp: Path, episodes: Sequence[np.ndarray], rows: list[dict[str, object]],
                task_names: list[str], dim: int, extra_shapes: dict[str, int],
                extra_columns: dict[str, list[np.ndarray]], action_key: str, fps: float,
                splits: dict[str, str] | None, robot_type: str, total_frames: int) -> None:
    meta = tmp / "meta"
    (meta / "episodes/chunk-000").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp / EPISODES_PATH.format(chunk_index=0,
                                                                           file_index=0))
    _write_tasks(meta / "tasks.parquet", task_names)
    scalar = {"shape": [1], "names": None}
    features = {
        action_key: {"dtype": "float32", "shape": [dim], "names": [f"a{j}" for j in range(dim)]},
        **{k: {"dtype": "float32", "shape": [w], "names": None} for k, w in extra_shapes.items()},
        "timestamp": {"dtype": "float32", **scalar},
        "frame_index": {"dtype": "int64", **scalar},
        "episode_index": {"dtype": "int64", **scalar},
        "index": {"dtype": "int64", **scalar},
        "task_index": {"dtype": "int64", **scalar},
    }
    info = {
        "codebase_version": "v3.0", "robot_type": robot_type,
        "total_episodes": len(episodes), "total_frames": total_frames,
        "total_tasks": len(task_names), "chunks_size": 1000, "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 500, "fps": fps,
        "splits": splits or {"train": f"0:{len(episodes)}"},
        "data_path": DATA_PATH, "video_path": None, "features": features,
    }
    (meta / "info.json").write_text(json.dumps(info, indent=2))
    columns = {action_key: [np.asarray(e, dtype=np.float64).reshape(len(e), -1)
                            for e in episodes], **extra_columns}
    stats = {key: feature_stats(np.concatenate(parts)) for key, parts in columns.items()}
    (meta / "stats.json").write_text(json.dumps(stats, indent=2))


QUANTILES = (1, 10, 50, 90, 99)  # LeRobot's q01 ... q99, which its QUANTILES modes read


def feature_stats(values: np.ndarray) -> dict[str, list[float]]:
    """What LeRobot keeps per feature in ``meta/stats.json``: min, max, mean, std, count and
    the quantiles q01, q10, q50, q90, q99 (exact here; LeRobot estimates them)."""
    out = {"min": values.min(0).tolist(), "max": values.max(0).tolist(),
           "mean": values.mean(0).tolist(), "std": values.std(0).tolist(),
           "count": [len(values)]}
    for q in QUANTILES:
        out[f"q{q:02d}"] = np.quantile(values, q / 100, axis=0).tolist()
    return out


def _write_tasks(path: Path, task_names: list[str]) -> None:
    """meta/tasks.parquet as LeRobot writes it: pandas' layout, the task strings as the index
    (LeRobot reads a task's string as its row's index label)."""
    pandas = {"index_columns": ["task"],
              "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode",
                                  "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
              "columns": [{"name": "task_index", "field_name": "task_index",
                           "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
                          {"name": "task", "field_name": "task", "pandas_type": "unicode",
                           "numpy_type": "object", "metadata": None}]}
    table = pa.table({"task_index": pa.array(range(len(task_names)), pa.int64()),
                      "task": task_names})
    pq.write_table(table.replace_schema_metadata({b"pandas": json.dumps(pandas).encode()}),
                   path)


def _fixed_list(values: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _read_info(path: Path) -> dict[str, object]:
    info_path = path / "meta" / "info.json"
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{info_path}: not valid JSON ({exc}).") from exc
    if not isinstance(info, dict):
        raise DataError(f"{info_path}: expected a JSON object, got {type(info).__name__}.")
    return info


def _concat_dims(parts: list[np.ndarray], files: list[Path], key: str) -> np.ndarray:
    widths = {p.shape[1] for p in parts}
    if len(widths) > 1:
        raise DataError(f"{files[0].parent}: column '{key}' has different widths {sorted(widths)}"
                        " across files; one dataset must hold one embodiment.")
    return np.concatenate(parts)


def _episode_splits(info: dict[str, object]) -> dict[int, str]:
    ranges = info.get("splits") or {}
    if not isinstance(ranges, dict) or set(ranges) <= {"train"}:
        return {}
    labels: dict[int, str] = {}
    for name, span in ranges.items():
        split = SPLIT_NAMES.get(str(name).lower())
        if split is None or ":" not in str(span):
            continue
        lo, hi = (int(x) for x in str(span).split(":"))
        labels.update(dict.fromkeys(range(lo, hi), split))
    return labels
