"""Damaged checkpoints, wrong folders and undecodable data end in one line on stderr with
exit code 2, never a traceback (nor torch's advice to load with weights_only=False); a bug
ends in one line naming the file that holds its traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ate.cli import main
from ate.config import save_yaml
from ate.data import load_episodes, write_hdf5_episodes
from ate.data.formats.zarr_buffer import write_replay_buffer
from ate.data.synthetic import synthetic_episodes
from ate.errors import DataError

from .align_helpers import make_robots, tiny_config

POLICY = ["--policy", "flow", "--policy.width", "32", "--policy.layers", "2",
          "--policy.inference-steps", "2", "--data.chunk-length", "8", "--train.max-steps", "2",
          "--train.val-every", "2", "--train.save-every", "2", "--optim.batch-size", "16",
          "--train.device", "cpu"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("no_tracebacks")
    pre, tgt = make_robots(root, episodes=4)
    save_yaml(tiny_config(pre, tgt, max_steps=2, device="cpu"), root / "t.yaml")
    assert main(["align", "pretrain", "--config", str(root / "t.yaml"), "--out",
                 str(root / "stage1")]) == 0
    assert main(["policy", "pretrain", "--data", str(tgt), "--out", str(root / "policy"),
                 *POLICY]) == 0
    return root


def _one_line(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: "), err
    for word in words:
        assert word in err, err
    assert "weights_only" not in err
    return err


def _damaged_copy(src: Path, dst: Path, name: str, content: bytes | None = None) -> Path:
    shutil.copytree(src, dst)
    for path in dst.rglob(name):
        path.write_bytes(content if content is not None else path.read_bytes()[:40])
    return dst


@pytest.mark.parametrize(("name", "content", "words"), [
    ("model.safetensors", None, ("model.safetensors", "not a readable safetensors")),
    ("trainer_state.pt", None, ("trainer_state.pt", "not a readable trainer state")),
    ("trainer_state.pt", b"\x80\x04K\x01.", ("trainer_state.pt",)),
    ("config.json", None, ("config.json", "not valid JSON")),
])
def test_resume_from_a_damaged_checkpoint(runs, tmp_path, capsys, name, content, words
                                          ) -> None:
    run = _damaged_copy(runs / "stage1", tmp_path / "run", name, content)
    capsys.readouterr()
    assert main(["align", "pretrain", "--resume", str(run)]) == 2
    _one_line(capsys, 2, *words)


def test_finetune_from_a_damaged_policy_or_guidance(runs, tmp_path, capsys) -> None:
    policy = _damaged_copy(runs / "policy", tmp_path / "policy", "model.safetensors")
    capsys.readouterr()
    assert main(["finetune", "--policy", str(policy), "--data", str(runs / "target"), "--out",
                 str(tmp_path / "ft1"), *POLICY[2:]]) == 2
    _one_line(capsys, 2, "not a readable safetensors")
    guidance = _damaged_copy(runs / "stage1", tmp_path / "vae", "config.json", b"{")
    assert main(["finetune", "--policy", str(runs / "policy"), "--data", str(runs / "target"),
                 "--guidance", str(guidance), "--out", str(tmp_path / "ft2"), *POLICY[2:]]) == 2
    _one_line(capsys, 2, "config.json", "not valid JSON")


def test_guidance_from_a_stage1_folder_of_another_robot(runs, tmp_path, capsys) -> None:
    capsys.readouterr()
    assert main(["finetune", "--policy", str(runs / "policy"), "--data", str(runs / "target"),
                 "--guidance", str(runs / "stage1"), "--out", str(tmp_path / "ft"),
                 *POLICY[2:]]) == 2
    _one_line(capsys, 2, "encodes 6-d actions", "stage-1", "has 4")


def test_zarr_with_the_pickle_codec_is_refused(tmp_path) -> None:
    store = write_replay_buffer(tmp_path / "buf.zarr", [np.zeros((5, 3), np.float32)])
    meta = store / "data/action/.zarray"
    spec = json.loads(meta.read_text())
    spec.update(dtype="|O", compressor=None, filters=[{"id": "pickle", "protocol": 5}])
    meta.write_text(json.dumps(spec))
    with pytest.raises(DataError, match=r"pickle codec.*never unpickles"):
        load_episodes(store)


def test_eval_of_a_policy_with_the_wrong_action_size(tmp_path, capsys) -> None:
    pytest.importorskip("metaworld")
    write_hdf5_episodes(tmp_path / "d7", synthetic_episodes(4, 7, length=(20, 24)))
    assert main(["policy", "pretrain", "--data", str(tmp_path / "d7"), "--out",
                 str(tmp_path / "p7"), *POLICY]) == 0
    capsys.readouterr()
    assert main(["eval", "--policy", str(tmp_path / "p7"), "--tasks", "reach-v3",
                 "--episodes", "1", "--workers", "1", "--batch", "1"]) == 2
    _one_line(capsys, 2, "7-d actions", "takes 4-d")


def test_a_bug_is_one_line_naming_its_traceback_file(tmp_path, capsys, monkeypatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr("ate.commands.data.load_episodes", boom)
    assert main(["data", "inspect", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: something broke" in err
    path = Path(err.split("traceback is in ")[1].split(";")[0])
    assert "Traceback" in path.read_text() and "second line" in path.read_text()
    path.unlink()
