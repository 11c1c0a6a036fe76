"""Every reader returns exactly what was written, in order, with splits and keys honoured."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import hypothesis.extra.numpy as hnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zarr
from hypothesis import given
from hypothesis import strategies as st

from ate.data import detect_format, load_episodes, write_hdf5_episodes, write_lerobot
from ate.data.formats.zarr_buffer import write_replay_buffer

from .conftest import random_episodes

finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@st.composite
def episode_lists(draw: st.DrawFn) -> list[np.ndarray]:
    dim = draw(st.integers(1, 6))
    n = draw(st.integers(1, 6))
    return [draw(hnp.arrays(np.float32, (draw(st.integers(1, 20)), dim), elements=finite))
            for _ in range(n)]


def assert_same(episodes, arrays: list[np.ndarray]) -> None:
    assert len(episodes) == len(arrays)
    for i, a in enumerate(arrays):
        np.testing.assert_array_equal(episodes.episode(i), a)


@given(episode_lists())
def test_hdf5_round_trip(arrays: list[np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_hdf5_episodes(Path(tmp), arrays)
        eps = load_episodes(tmp)
        assert eps.format == "hdf5" and eps.action_key == "qpos"
        assert_same(eps, arrays)  # natural order: episode_2 before episode_10


@given(episode_lists())
def test_lerobot_v3_round_trip(arrays: list[np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        # small files force several episodes per file and several files
        write_lerobot(out, arrays, frames_per_file=25)
        info = json.loads((out / "meta/info.json").read_text())
        assert info["codebase_version"] == "v3.0"
        assert info["total_frames"] == sum(len(a) for a in arrays)
        eps = load_episodes(out)
        assert eps.format == "lerobot"
        assert_same(eps, arrays)


def test_lerobot_v3_packs_many_episodes_per_file(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=6)
    write_lerobot(tmp_path / "ds", arrays)
    files = list((tmp_path / "ds/data").rglob("*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert set(table.column("episode_index").to_pylist()) == set(range(6))
    assert pa.types.is_fixed_size_list(table.schema.field("action").type)


def test_lerobot_v21_one_file_per_episode_shuffled_rows(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=4, dim=2)
    root = tmp_path / "v21"
    (root / "meta").mkdir(parents=True)
    (root / "meta/info.json").write_text(json.dumps({
        "codebase_version": "v2.1", "features": {"action": {"shape": [2]}},
        "splits": {"train": "0:3", "test": "3:4"}}))
    for i, a in enumerate(arrays):
        path = root / f"data/chunk-000/episode_{i:06d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        perm = rng.permutation(len(a))  # rows out of order: the reader sorts by frame_index
        pq.write_table(pa.table({
            "action": [list(map(float, row)) for row in a[perm]],
            "episode_index": np.full(len(a), i), "frame_index": perm}), path)
    eps = load_episodes(root)
    assert_same(eps, arrays)
    assert eps.splits == ["train", "train", "train", "val"]


@given(episode_lists())
def test_zarr_v2_replay_buffer_round_trip(arrays: list[np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "replay.zarr"
        write_replay_buffer(out, arrays)
        assert (out / ".zgroup").exists()  # format v2 on disk, as Diffusion Policy writes
        eps = load_episodes(out)
        assert eps.format == "zarr"
        assert_same(eps, arrays)


def test_zarr_zip_store(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=3)
    store = zarr.storage.ZipStore(tmp_path / "buf.zarr.zip", mode="w")
    root = zarr.open_group(store, mode="w", zarr_format=2)
    root.create_group("data").create_array("action", data=np.concatenate(arrays))
    root.create_group("meta").create_array(
        "episode_ends", data=np.cumsum([len(a) for a in arrays]))
    store.close()
    assert_same(load_episodes(tmp_path / "buf.zarr.zip"), arrays)


def test_hdf5_files_and_robomimic_demos_read_in_natural_order(rng, tmp_path) -> None:
    """12 episodes: a plain string sort would put episode_10 and demo_11 before _2."""
    arrays = random_episodes(rng, n=12, lengths=(3, 6))
    write_hdf5_episodes(tmp_path / "files", arrays)
    assert sorted(p.name for p in (tmp_path / "files").rglob("*.hdf5"))[2].startswith(
        "episode_10")  # the layout a string sort would get wrong
    assert_same(load_episodes(tmp_path / "files"), arrays)
    with h5py.File(tmp_path / "low_dim.hdf5", "w") as f:
        for i, a in enumerate(arrays):
            f.create_dataset(f"data/demo_{i}/actions", data=a)
    assert_same(load_episodes(tmp_path / "low_dim.hdf5"), arrays)


def test_robomimic_single_file_with_masks(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=3)
    path = tmp_path / "low_dim.hdf5"
    with h5py.File(path, "w") as f:
        for i, a in enumerate(arrays):
            f.create_dataset(f"data/demo_{i}/actions", data=a)
            f.create_dataset(f"data/demo_{i}/obs/joint_pos", data=a * 2)
        f.create_dataset("mask/train", data=[b"demo_0", b"demo_1"])
        f.create_dataset("mask/valid", data=[b"demo_2"])
    assert detect_format(path) == "robomimic"
    eps = load_episodes(path)
    assert_same(eps, arrays)
    assert eps.splits == ["train", "train", "val"]
    other = load_episodes(path, action_key="obs/joint_pos")
    np.testing.assert_array_equal(other.episode(1), arrays[1] * 2)


def test_hdf5_nested_train_val_folders_and_key_path(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=4)
    write_hdf5_episodes(tmp_path, arrays, action_key="observations/qpos",
                        split=["train", "train", "val", "train"])
    eps = load_episodes(tmp_path, action_key="observations/qpos")
    assert eps.splits.count("val") == 1
    assert sorted(len(eps.episode(i)) for i in range(4)) == sorted(len(a) for a in arrays)


def test_hdf5_default_key_falls_back_to_action(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=2)
    write_hdf5_episodes(tmp_path, arrays, action_key="action")
    eps = load_episodes(tmp_path)
    assert eps.action_key == "action"
    assert_same(eps, arrays)


def test_npz_layouts(rng, tmp_path) -> None:
    arrays = random_episodes(rng, n=3)
    np.savez(tmp_path / "cat.npz", action=np.concatenate(arrays),
             episode_ends=np.cumsum([len(a) for a in arrays]))
    assert_same(load_episodes(tmp_path / "cat.npz"), arrays)
    np.savez(tmp_path / "per.npz", **{f"episode_{i}": a for i, a in enumerate(arrays)})
    assert_same(load_episodes(tmp_path / "per.npz"), arrays)
    folder = tmp_path / "npy"
    folder.mkdir()
    for i, a in enumerate(arrays):
        np.save(folder / f"ep{i}.npy", a)
    eps = load_episodes(folder)
    assert eps.format == "numpy"
    assert_same(eps, arrays)


@pytest.mark.parametrize("to", ["hdf5", "lerobot"])
def test_cli_convert_keeps_splits(rng, tmp_path, to) -> None:
    from ate.cli import main

    arrays = random_episodes(rng, n=5)
    write_hdf5_episodes(tmp_path / "src", arrays, split=["train", "val", "train", "train", "val"])
    assert main(["data", "convert", str(tmp_path / "src"), "--out", str(tmp_path / "dst"),
                 "--to", to]) == 0
    eps = load_episodes(tmp_path / "dst")
    assert eps.splits.count("val") == 2 and len(eps) == 5
    original = load_episodes(tmp_path / "src")
    for name in ("train", "val"):
        a = [original.episode(i) for i in range(5) if original.splits[i] == name]
        b = [eps.episode(i) for i in range(5) if eps.splits[i] == name]
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_cli_convert_never_mixes_two_writers(rng, tmp_path, monkeypatch, capsys) -> None:
    """A second convert to the same --out that finishes after the first is refused, its
    files removed, the first's dataset untouched; nothing half-written is ever at --out."""
    import ate.commands.data as data_cmd
    from ate.cli import main

    write_hdf5_episodes(tmp_path / "src", random_episodes(rng, n=3))
    write = data_cmd.write_dataset

    def other_writer_finishes_first(episodes, out, to, **kw):
        assert not (tmp_path / "dst").exists()  # ours is written beside --out
        write(episodes, out, to, **kw)
        write(episodes, tmp_path / "dst", "hdf5")  # the other process's, renamed first

    monkeypatch.setattr(data_cmd, "write_dataset", other_writer_finishes_first)
    assert main(["data", "convert", str(tmp_path / "src"), "--out", str(tmp_path / "dst"),
                 "--to", "lerobot"]) == 2
    assert "written by another process" in capsys.readouterr().err
    assert load_episodes(tmp_path / "dst").format == "hdf5"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "src"]


def _with_obs(rng, n=4):
    arrays = random_episodes(rng, n=n, dim=3)
    obs = [rng.normal(size=(len(a), 5)).astype(np.float32) for a in arrays]
    tasks = [f"task{i % 2}" for i in range(n)]
    return arrays, obs, tasks


def test_observations_and_tasks_round_trip_in_every_writer(rng, tmp_path) -> None:
    arrays, obs, tasks = _with_obs(rng)
    write_hdf5_episodes(tmp_path / "h5", arrays, extra=[{"observations/state": o} for o in obs],
                        tasks=tasks)
    write_lerobot(tmp_path / "lr", arrays, extra=[{"observation.state": o} for o in obs],
                  tasks=tasks)
    write_replay_buffer(tmp_path / "buf.zarr", arrays, observations=obs)
    np.savez(tmp_path / "cat.npz", action=np.concatenate(arrays), state=np.concatenate(obs),
             episode_ends=np.cumsum([len(a) for a in arrays]))
    cases = [("h5", "observations/state", True), ("lr", "observation.state", True),
             ("buf.zarr", "state", False), ("cat.npz", "state", False)]
    for name, key, has_tasks in cases:
        eps = load_episodes(tmp_path / name, obs_key=key)
        assert_same(eps, arrays)
        np.testing.assert_array_equal(eps.observations, np.concatenate(obs), err_msg=name)
        assert eps.tasks == (tasks if has_tasks else None), name


def test_observation_errors(rng, tmp_path) -> None:
    from ate.errors import DataError

    arrays, obs, _ = _with_obs(rng, n=2)
    obs[1] = obs[1][:-1]  # one observation short
    write_hdf5_episodes(tmp_path / "short", arrays, extra=[{"obs": o} for o in obs])
    with pytest.raises(DataError, match=r"observations for .* actions"):
        load_episodes(tmp_path / "short", obs_key="obs")
    write_lerobot(tmp_path / "lr", arrays)
    with pytest.raises(DataError, match=r"no feature 'observation\.state'"):
        load_episodes(tmp_path / "lr", obs_key="observation.state")
