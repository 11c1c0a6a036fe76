"""`ate policy pretrain` then `ate finetune` (direct and guided) end to end from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ate.align.vae import ActionVAE, VAEConfig
from ate.cli import main
from ate.data import Normalizer, load_episodes, write_hdf5_episodes
from ate.data.synthetic import synthetic_episodes
from ate.policies import GenerativePolicy

COMMON = ["--policy.down-dims", "16", "32", "--policy.width", "32", "--policy.layers", "2",
          "--policy.inference-steps", "3", "--data.chunk-length", "8",
          "--data.slots.layout", "pad", "--data.slots.size", "6", "--train.max-steps", "6",
          "--train.val-every", "3", "--train.save-every", "3", "--optim.batch-size", "16"]


@pytest.fixture(scope="module", params=["diffusion", "flow"])
def runs(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"ft-{request.param}")
    write_hdf5_episodes(root / "pre", synthetic_episodes(10, 6, length=(20, 30)),
                        tasks=["reach", "push"] * 5)
    write_hdf5_episodes(root / "tgt", synthetic_episodes(6, 4, length=(20, 30),
                                                         embodiment_seed=3),
                        tasks=["push", "lift"] * 3)
    # a stage-2 encoder for the 4-d target (weights need not be trained for these checks)
    torch.manual_seed(0)
    vae = ActionVAE(VAEConfig(action_dim=4, max_chunk_length=8, latent_dim=8, hidden_dim=16,
                              num_layers=3, num_heads=2, ff_dim=32))
    vae.save_pretrained(root / "stage2/best", {"slots": {"indices": [0, 1, 2, 3], "size": 4}})
    target = load_episodes(root / "tgt")
    Normalizer.fit(target.actions).save(root / "stage2/best/normalizer.json")
    assert main(["policy", "pretrain", "--data", str(root / "pre"), "--policy", request.param,
                 "--out", str(root / "pretrained"), *COMMON]) == 0
    for name, extra in (("direct", []), ("guided", ["--guidance", str(root / "stage2"),
                                                      "--lam", "2", "--clamp", "0.1"])):
        assert main(["finetune", "--policy", str(root / "pretrained"), "--data",
                     str(root / "tgt"), "--out", str(root / name), *COMMON, *extra]) == 0
    return root


def test_checkpoints_reload_to_identical_actions(runs) -> None:
    for name in ("pretrained", "direct", "guided"):
        a = GenerativePolicy.from_pretrained(runs / name / "best")
        b = GenerativePolicy.from_pretrained(runs / name / "best")
        out = [p.act(task=torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
               for p in (a, b)]
        torch.testing.assert_close(out[0], out[1])
    tuned = GenerativePolicy.from_pretrained(runs / "guided/best")
    assert tuned.act(task=torch.tensor([0]), generator=torch.Generator()).shape == (1, 8, 4)
    # the new task "lift" got a new row after the pre-training tasks
    assert tuned.task_names == ["push", "reach", "lift"]


def test_guided_run_differs_and_holds_no_encoder(runs) -> None:
    direct = load_file(str(runs / "direct/last/model.safetensors"))
    guided = load_file(str(runs / "guided/last/model.safetensors"))
    assert direct.keys() == guided.keys()
    assert not any("encoder" in k or "dist_tokens" in k for k in guided)
    assert any(not torch.equal(direct[k], guided[k]) for k in direct)
    meta = json.loads((runs / "guided/last/config.json").read_text())
    assert meta["run"]["guidance"]["lam"] == 2.0 and meta["slots"]["size"] == 6
    shift = json.loads((runs / "guided/steer_shift.json").read_text())
    assert shift["lam"] == 2.0 and shift["ratio"] > 0 and not (runs / "direct/steer_shift.json"
                                                                ).exists()
    # the fine-tuned policy acts in the target's units (its own normaliser travelled along)
    stats = np.asarray(json.loads((runs / "guided/best/normalizer.json").read_text())["offset"])
    assert stats.shape == (4,)


def test_finetune_refuses_incompatible_shapes_and_overwrites(runs, capsys) -> None:
    args = ["finetune", "--policy", str(runs / "pretrained"), "--data", str(runs / "tgt"),
            "--out", str(runs / "bad"), *COMMON]
    assert main([*args, "--data.slots.size", "5"]) == 2
    assert "--data.slots.size 6" in capsys.readouterr().err
    assert main(["finetune", "--policy", str(runs / "pretrained"), "--data", str(runs / "tgt"),
                 "--out", str(runs / "direct"), *COMMON]) == 2
    assert "--resume" in capsys.readouterr().err


def test_policy_training_resumes_exactly(runs, tmp_path) -> None:
    from ate.config import from_dict
    from ate.finetune.config import PolicyRunConfig
    from ate.finetune.run import train_policy

    saved = json.loads((runs / "guided/last/config.json").read_text())["run"]
    config = from_dict(PolicyRunConfig, saved)
    full = train_policy(config, tmp_path / "full")
    cut = train_policy(config, tmp_path / "cut", until_step=2)
    assert cut.step == 2
    resumed = train_policy(config, tmp_path / "cut", resume=tmp_path / "cut")
    a = load_file(str(full.last / "model.safetensors"))
    b = load_file(str(resumed.last / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


def test_checkpoints_hold_the_weight_average_and_resume_the_raw_weights(runs) -> None:
    saved = load_file(str(runs / "guided/last/model.safetensors"))
    state = torch.load(runs / "guided/last/trainer_state.pt", weights_only=True)
    raw = state["raw_model"]
    assert saved.keys() == raw.keys()
    assert any(not torch.equal(saved[k], raw[k]) for k in saved)  # EMA != raw weights
    assert json.loads((runs / "guided/last/config.json").read_text())["ema"] is True


def test_task_labels_are_ignored_by_a_policy_without_a_task_table(tmp_path, capsys) -> None:
    write_hdf5_episodes(tmp_path / "pre", synthetic_episodes(6, 6, length=(20, 30)))
    write_hdf5_episodes(tmp_path / "tgt", synthetic_episodes(6, 6, length=(20, 30)),
                        tasks=["lift"] * 6)
    assert main(["policy", "pretrain", "--data", str(tmp_path / "pre"), "--policy", "flow",
                 "--out", str(tmp_path / "pre_run"), *COMMON]) == 0
    assert main(["finetune", "--policy", str(tmp_path / "pre_run"), "--data",
                 str(tmp_path / "tgt"), "--out", str(tmp_path / "ft"), *COMMON]) == 0
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long log lines
    assert "['lift'] are ignored" in err
