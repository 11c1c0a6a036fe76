"""Each kind of bad input stops with a DataError that names the file, the field and the fix;
from the CLI it is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ate.cli import main
from ate.data import ChunkDataset, EmbodimentSlots, load_episodes, write_hdf5_episodes
from ate.errors import DataError

from .conftest import random_episodes


def test_missing_path(tmp_path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_episodes(tmp_path / "nope")


def test_unknown_format(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="no known dataset layout"):
        load_episodes(tmp_path)
    with pytest.raises(DataError, match="unknown file type"):
        load_episodes(tmp_path / "notes.txt")
    with pytest.raises(DataError, match="not supported"):
        load_episodes(tmp_path, format="rosbag")


def test_missing_hdf5_key_lists_existing_keys(rng, tmp_path) -> None:
    write_hdf5_episodes(tmp_path, random_episodes(rng, n=2), action_key="joint_states")
    with pytest.raises(DataError, match=r"joint_states.*--action-key"):
        load_episodes(tmp_path)
    with pytest.raises(DataError, match=r"no dataset 'qpos'.*joint_states"):
        load_episodes(tmp_path, action_key="qpos")


def test_missing_lerobot_column_lists_features(rng, tmp_path) -> None:
    from ate.data import write_lerobot

    write_lerobot(tmp_path / "ds", random_episodes(rng, n=2))
    with pytest.raises(DataError, match=r"no feature 'observation.state'.*action"):
        load_episodes(tmp_path / "ds", action_key="observation.state")


def test_ragged_lerobot_column(tmp_path) -> None:
    root = tmp_path / "ds"
    (root / "meta").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps({"codebase_version": "v3.0"}))
    (root / "data/chunk-000").mkdir(parents=True)
    pq.write_table(pa.table({"action": [[0.0, 1.0], [1.0]], "episode_index": [0, 0]}),
                   root / "data/chunk-000/file-000.parquet")
    with pytest.raises(DataError, match="ragged"):
        load_episodes(root)


def test_ragged_and_non_numeric_npz(tmp_path) -> None:
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = [1.0, 2.0], [1.0]
    np.savez(tmp_path / "ragged.npz", action=ragged)
    with pytest.raises(DataError, match="pickle"):
        load_episodes(tmp_path / "ragged.npz")
    np.savez(tmp_path / "text.npz", action=np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(DataError, match="not numbers"):
        load_episodes(tmp_path / "text.npz")


def test_string_hdf5_dataset(tmp_path) -> None:
    with h5py.File(tmp_path / "ep.hdf5", "w") as f:
        f.create_dataset("qpos", data=np.array([b"a", b"b"]))
    with pytest.raises(DataError, match="not numbers"):
        load_episodes(tmp_path)


def test_nan_actions_error_names_episode_then_drop_counts(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=4)
    arrays[2][3, 1] = np.nan
    arrays[3][0, 0] = np.inf
    write_hdf5_episodes(tmp_path, arrays)
    with pytest.raises(DataError, match=r"episode_2\.hdf5.*NaN/inf.*--drop-nonfinite"):
        load_episodes(tmp_path)
    eps = load_episodes(tmp_path, nonfinite="drop")
    assert len(eps) == 2 and eps.nonfinite_dropped == 2
    np.testing.assert_array_equal(eps.episode(1), arrays[1])


def test_chunk_longer_than_every_episode(rng, tmp_path) -> None:
    write_hdf5_episodes(tmp_path, random_episodes(rng, n=3, lengths=(5, 10)))
    eps = load_episodes(tmp_path)
    longest = int(eps.lengths.max())
    with pytest.raises(DataError, match=f"longest: {longest} steps"):
        ChunkDataset(eps, longest + 1)
    assert len(ChunkDataset(eps, longest + 1, pad_tail=True)) == eps.num_steps


@pytest.mark.parametrize(("indices", "size", "match"), [
    ((0, 1, 5), 4, "out of range"), ((0, 1, 1), 4, "more than once"), ((-1, 0, 1), 4, "range")])
def test_bad_slot_indices(indices, size, match) -> None:
    with pytest.raises(DataError, match=match):
        EmbodimentSlots.explicit(indices, size)


def test_slot_count_must_match_dataset_dim(rng, tmp_path) -> None:
    write_hdf5_episodes(tmp_path, random_episodes(rng, n=2, dim=3))
    eps = load_episodes(tmp_path)
    with pytest.raises(DataError, match="3 action dims but the slot layout places 2"):
        ChunkDataset(eps, 2, slots=EmbodimentSlots.explicit([0, 5], 8))


def test_mismatched_dims_between_files(rng, tmp_path) -> None:
    write_hdf5_episodes(tmp_path / "a", random_episodes(rng, n=2, dim=3))
    write_hdf5_episodes(tmp_path / "b", random_episodes(rng, n=1, dim=4))
    with pytest.raises(DataError, match=r"4 action dims but .* has 3"):
        load_episodes(tmp_path)


def test_corrupt_hdf5_file(tmp_path) -> None:
    (tmp_path / "episode_0.hdf5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="not a readable HDF5"):
        load_episodes(tmp_path)


def test_cli_error_is_one_line_exit_2(tmp_path, capsys) -> None:
    code = main(["data", "inspect", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    assert str(tmp_path / "missing") in err
