"""Settings are checked before anything runs, with the allowed range in the message, and no
run claims a checkpoint it did not write."""

from __future__ import annotations

import pytest

from ate.cli import main
from ate.config import save_yaml
from ate.errors import ConfigError
from ate.steer.guidance import GuidanceConfig
from ate.training.config import OptimConfig, TrainConfig

from .align_helpers import make_robots, tiny_config


@pytest.mark.parametrize(("make", "match"), [
    (lambda: TrainConfig(max_steps=-5), r"train.max_steps = -5 \(>= 1 or None\)"),
    (lambda: TrainConfig(epochs=-1), r"train.epochs = -1 \(>= 1\)"),
    (lambda: TrainConfig(save_every=0), r"train.save_every = 0 \(>= 1\)"),
    (lambda: OptimConfig(lr=0.0), r"optim.lr = 0.0 \(> 0\)"),
    (lambda: OptimConfig(grad_clip=-1.0), r"optim.grad_clip = -1.0 \(> 0 or None\)"),
    (lambda: GuidanceConfig(lam=-1.0), r"guidance.lam = -1.0 \(>= 0\)"),
])
def test_ranges_are_checked_in_the_config(make, match) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


def test_a_negative_length_from_the_cli_writes_nothing(tmp_path, capsys) -> None:
    pre, tgt = make_robots(tmp_path, episodes=4)
    save_yaml(tiny_config(pre, tgt), tmp_path / "t.yaml")
    for flag, value, line in (
            ("--train.max-steps", "-5", "error: train.max_steps = -5 (>= 1 or None): out of "
                                        "range.\n"),
            ("--train.epochs", "-1", "error: train.epochs = -1 (>= 1): out of range.\n")):
        assert main(["align", "pretrain", "--config", str(tmp_path / "t.yaml"), "--out",
                     str(tmp_path / "run"), flag, value]) == 2
        assert capsys.readouterr().err == line  # one line, not tyro's box
    assert not (tmp_path / "run").exists()
    assert main(["finetune", "--data", str(tgt), "--lam", "-1"]) == 2
    assert capsys.readouterr().err == "error: guidance.lam = -1.0 (>= 0): out of range.\n"


def test_eval_with_no_episodes_is_refused(tmp_path, capsys) -> None:
    assert main(["eval", "--policy", str(tmp_path), "--episodes", "0"]) == 2
    err = capsys.readouterr().err
    assert "--episodes = 0 (>= 1)" in err and "nan" not in err


def test_a_run_that_diverges_before_its_first_save_claims_no_checkpoint(tmp_path, capsys
                                                                        ) -> None:
    pre, tgt = make_robots(tmp_path, episodes=4)
    save_yaml(tiny_config(pre, tgt, device="cpu"), tmp_path / "t.yaml")
    assert main(["align", "pretrain", "--config", str(tmp_path / "t.yaml"), "--out",
                 str(tmp_path / "run"), "--optim.lr", "1e30"]) == 2
    err = capsys.readouterr().err
    assert "non-finite" in err and "No checkpoint was written" in err
    assert "still holds" not in err and "--resume" not in err
    assert not (tmp_path / "run/last").exists()
