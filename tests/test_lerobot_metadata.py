"""The LeRobot reader checks what it found against the dataset's own metadata: episodes
(count, lengths), feature shapes and fps; missing files stop it unless --allow-missing."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from ate.cli import main
from ate.data import load_episodes, write_lerobot
from ate.errors import DataError

from .conftest import random_episodes


@pytest.fixture
def dataset(rng, tmp_path):
    arrays = random_episodes(rng, n=10, dim=3, lengths=(10, 12))
    return write_lerobot(tmp_path / "ds", arrays, frames_per_file=30), arrays


def _edit_info(root, **fields) -> None:
    info = json.loads((root / "meta/info.json").read_text())
    info.update(fields)
    (root / "meta/info.json").write_text(json.dumps(info))


def test_a_deleted_data_file_is_named_or_counted_with_allow_missing(dataset, caplog,
                                                                    capsys) -> None:
    root, _ = dataset
    files = sorted((root / "data").rglob("*.parquet"))
    assert len(files) > 2
    lost = sorted(set(pq.read_table(files[1]).column("episode_index").to_pylist()))
    files[1].unlink()
    with pytest.raises(DataError, match=rf"lists 10 episodes; {len(lost)} missing .*"
                                        rf"file-001\.parquet.*--allow-missing"):
        load_episodes(root)
    eps = load_episodes(root, allow_missing=True)
    assert len(eps) == 10 - len(lost)
    assert f"{len(lost)} missing" in caplog.text and f"{10 - len(lost)} complete" in caplog.text
    assert main(["data", "inspect", str(root)]) == 2
    assert "file-001.parquet" in capsys.readouterr().err
    assert main(["data", "inspect", str(root), "--allow-missing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 10 - len(lost)


def test_an_episode_shorter_than_its_metadata(dataset) -> None:
    root, _ = dataset
    file = sorted((root / "data").rglob("*.parquet"))[0]
    table = pq.read_table(file)
    pq.write_table(table.slice(0, table.num_rows - 1), file)  # the last frame lost
    with pytest.raises(DataError, match=r"1 of another length than meta/ says \(episode \d+: "):
        load_episodes(root)
    assert len(load_episodes(root, allow_missing=True)) == 9


def test_total_episodes_alone_is_checked(dataset) -> None:
    root, _ = dataset
    for path in (root / "meta/episodes").rglob("*.parquet"):
        path.unlink()
    _edit_info(root, total_episodes=12)
    with pytest.raises(DataError, match=r"lists 12 episodes; 2 missing \(episodes 10, 11\)"):
        load_episodes(root)


@pytest.mark.parametrize(("fields", "match"), [
    ({"features": "oops"}, r"'features' must be a mapping.*'oops'"),
    ({"fps": "ten"}, r"'fps' must be a positive number.*'ten'"),
    ({"fps": 0}, r"'fps' must be a positive number"),
    ({"features": {"action": {"dtype": "float32", "shape": [7]}}},
     r"features.action.shape is \[7\] but the data's 'action' rows hold 3 values"),
])
def test_metadata_that_disagrees_or_is_malformed(dataset, fields, match) -> None:
    root, _ = dataset
    _edit_info(root, **fields)
    with pytest.raises(DataError, match=match):
        load_episodes(root)
