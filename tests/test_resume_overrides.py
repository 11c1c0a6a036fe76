"""--resume applies the settings that are safe to change mid-run, records them in the run's
history, and refuses every other flag by name."""

from __future__ import annotations

import json

import torch

from ate.cli import main
from ate.config import save_yaml

from .align_helpers import make_robots, tiny_config


def test_resume_applies_safe_overrides_and_refuses_the_rest(tmp_path, capsys) -> None:
    pre, tgt = make_robots(tmp_path, episodes=4)
    save_yaml(tiny_config(pre, tgt, epochs=50, max_steps=4, device="cpu"), tmp_path / "t.yaml")
    run = tmp_path / "run"
    assert main(["align", "pretrain", "--config", str(tmp_path / "t.yaml"), "--out", str(run)]
                ) == 0
    capsys.readouterr()
    assert main(["align", "pretrain", "--resume", str(run), "--model.latent-dim", "4",
                 "--optim.lr", "0.002"]) == 2
    err = capsys.readouterr().err
    assert "model.latent_dim cannot change" in err and err.count("\n") == 1
    assert "optim.lr," not in err.split("cannot change")[0]  # only the refused field named
    assert main(["align", "pretrain", "--resume", str(run), "--optim.lr", "0.002",
                 "--optim.grad-clip", "1.0", "--train.max-steps", "6"]) == 0
    assert "finished at step 6/6" in capsys.readouterr().out
    meta = json.loads((run / "last/config.json").read_text())
    assert meta["align"]["optim"]["lr"] == 0.002 and meta["align"]["optim"]["grad_clip"] == 1.0
    assert meta["history"] == [{"step": 4, "changed": {
        "optim.grad_clip": [None, 1.0], "optim.lr": [0.001, 0.002], "train.max_steps": [4, 6]}}]
    state = torch.load(run / "last/trainer_state.pt", weights_only=True)
    assert state["scheduler"]["base_lrs"] == [0.002]
    # a resume without overrides keeps the history as it is
    assert main(["align", "pretrain", "--resume", str(run)]) == 0
    assert json.loads((run / "last/config.json").read_text())["history"] == meta["history"]
    # a length below the step the run has reached cannot be resumed to: one line, nothing
    # written
    stamp = (run / "last/model.safetensors").stat().st_mtime_ns
    assert main(["align", "pretrain", "--resume", str(run), "--train.max-steps", "3"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error:") and "at step 6, past the 3 steps" in last
    assert (run / "last/model.safetensors").stat().st_mtime_ns == stamp


def test_a_run_saved_on_a_gpu_resumes_on_a_cpu_with_one_flag(tmp_path, capsys, monkeypatch
                                                             ) -> None:
    """A run whose config says ``train.device: cuda``, resumed where torch sees no GPU: one
    line naming the flag, then ``--train.device cpu`` continues it (and the history says so)."""
    pre, tgt = make_robots(tmp_path, episodes=4)
    save_yaml(tiny_config(pre, tgt, epochs=50, max_steps=4, device="cpu"), tmp_path / "t.yaml")
    run = tmp_path / "run"
    assert main(["align", "pretrain", "--config", str(tmp_path / "t.yaml"), "--out", str(run)]
                ) == 0
    meta = json.loads((run / "last/config.json").read_text())
    meta["align"]["train"]["device"] = "cuda"  # as a GPU machine would have written it
    (run / "last/config.json").write_text(json.dumps(meta))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    capsys.readouterr()
    assert main(["align", "pretrain", "--resume", str(run), "--train.max-steps", "6"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and "sees no CUDA device" in last
    assert "--train.device cpu" in last
    assert json.loads((run / "last/config.json").read_text())["step"] == 4
    assert main(["align", "pretrain", "--resume", str(run), "--train.max-steps", "6",
                 "--train.device", "cpu"]) == 0
    meta = json.loads((run / "last/config.json").read_text())
    assert meta["step"] == 6 and meta["history"][-1]["changed"]["train.device"] == ["cuda",
                                                                                    "cpu"]
