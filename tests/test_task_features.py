"""Task conditioning on precomputed text features (``TaskFeatures``)."""

from __future__ import annotations

import pytest
import torch

from ate.cli import main
from ate.data import write_hdf5_episodes
from ate.data.slots import EmbodimentSlots
from ate.data.synthetic import synthetic_episodes
from ate.errors import DataError
from ate.policies import FlowPolicy, GenerativePolicy, PolicyConfig, TaskFeatures

TINY = ["--policy.width", "16", "--policy.layers", "1",
        "--policy.heads", "2", "--policy.inference-steps", "2", "--data.chunk-length", "8",
        "--train.max-steps", "2", "--train.val-every", "2", "--train.save-every", "2",
        "--optim.batch-size", "8"]


def features() -> TaskFeatures:
    torch.manual_seed(0)
    return TaskFeatures(["reach", "push", "lift"], torch.randn(3, 5))


def test_features_round_trip_and_bad_files(tmp_path) -> None:
    feats = features()
    feats.save(tmp_path / "f.safetensors")
    back = TaskFeatures.load(tmp_path / "f.safetensors")
    assert back.names == feats.names
    torch.testing.assert_close(back.rows(["lift", "reach"]), feats.features[[2, 0]])
    with pytest.raises(DataError, match=r"f.safetensors has no features for tasks \['open'\]"):
        back.rows(["open"], str(tmp_path / "f.safetensors"))
    with pytest.raises(DataError, match="one row per name"):
        TaskFeatures(["a"], torch.zeros(2, 3))
    with pytest.raises(DataError, match="NaN"):
        TaskFeatures(["a"], torch.tensor([[float("nan")]]))
    with pytest.raises(DataError, match="no such task-features file"):
        TaskFeatures.load(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(DataError, match=r"junk\.safetensors: not a safetensors file"):
        TaskFeatures.load(tmp_path / "junk.safetensors")


def test_the_task_embedding_is_a_map_of_the_text_features() -> None:
    config = PolicyConfig(kind="flow", action_dim=2, chunk_length=4, num_tasks=3,
                          task_text_dim=5, width=16, layers=1, heads=2)
    policy = FlowPolicy(config, EmbodimentSlots.identity(2))
    text = torch.randn(3, 5)
    text[2] = text[0]  # two tasks with one instruction are one task to the policy
    policy.cond.task_text.copy_(text)
    emb = policy.cond(None, torch.tensor([0, 1, 2, -1]))
    torch.testing.assert_close(emb[:3], policy.cond.task_proj(text))
    torch.testing.assert_close(emb[0], emb[2])
    assert not torch.allclose(emb[0], emb[1]) and not emb[3].any()
    assert policy.cond.tasks is None and "cond.task_text" in policy.state_dict()


def test_pretrain_and_finetune_on_text_features(tmp_path, capsys) -> None:
    write_hdf5_episodes(tmp_path / "pre", synthetic_episodes(6, 3, length=(20, 30)),
                        tasks=["reach", "push"] * 3)
    write_hdf5_episodes(tmp_path / "tgt", synthetic_episodes(4, 3, length=(20, 30)),
                        tasks=["push", "lift"] * 2)
    feats = features()
    feats.save(tmp_path / "f.safetensors")
    file = ["--task-features", str(tmp_path / "f.safetensors")]
    assert main(["policy", "pretrain", "--data", str(tmp_path / "pre"), "--out",
                 str(tmp_path / "pre-run"), "--policy", "flow", *TINY, *file]) == 0
    pre = GenerativePolicy.from_pretrained(tmp_path / "pre-run/best")
    assert pre.task_names == ["push", "reach"] and pre.config.task_text_dim == 5
    torch.testing.assert_close(pre.cond.task_text, feats.rows(["push", "reach"]))

    finetune = ["finetune", "--policy", str(tmp_path / "pre-run"), "--data",
                str(tmp_path / "tgt"), *TINY]
    assert main([*finetune, "--out", str(tmp_path / "no-file")]) != 0
    assert "new tasks ['lift'] need theirs: pass --task-features" in capsys.readouterr().err
    TaskFeatures(["lift"], torch.zeros(1, 4)).save(tmp_path / "other.safetensors")
    assert main([*finetune, "--out", str(tmp_path / "other"), "--task-features",
                 str(tmp_path / "other.safetensors")]) != 0
    assert "4-d features, but the policy was pre-trained on 5-d" in capsys.readouterr().err
    assert main([*finetune, "--out", str(tmp_path / "tuned"), *file]) == 0
    tuned = GenerativePolicy.from_pretrained(tmp_path / "tuned/best")
    assert tuned.task_names == ["push", "reach", "lift"]
    # the features are data, not weights: fine-tuning leaves them as the file gives them
    torch.testing.assert_close(tuned.cond.task_text, feats.rows(["push", "reach", "lift"]))
    assert tuned.act(task=torch.tensor([2]), generator=torch.Generator()).shape == (1, 8, 3)
