"""`ate align run / report` from the command line on two synthetic robots of different D."""

from __future__ import annotations

import json

import pytest

from ate.cli import main
from ate.config import save_yaml

from .align_helpers import make_robots, tiny_config


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    root = tmp_path_factory.mktemp("align_cli")
    pre, tgt = make_robots(root)
    save_yaml(tiny_config(pre, tgt, epochs=2), root / "tiny.yaml")
    code = main(["align", "run", "--config", str(root / "tiny.yaml"), "--pretrain-data",
                 str(pre), "--target-data", str(tgt), "--out", str(root / "run"),
                 "--single-stage"])
    assert code == 0
    return root


def test_run_writes_both_stages_the_ablation_and_the_report(aligned) -> None:
    run = aligned / "run"
    for stage in ("stage1", "stage2", "single"):
        for sub in ("best", "last"):
            assert (run / stage / sub / "model.safetensors").is_file()
    assert (run / "stage1/best/prior.safetensors").is_file()
    report = json.loads((run / "report/report.json").read_text())
    assert set(report["latents"]) == {"aligned", "single_stage", "pretraining_reference"}
    assert set(report["controls"]) == {"time-shuffled", "uniform noise"}
    for key in ("nll", "mmd", "inside_region"):
        assert isinstance(report["latents"]["aligned"][key], float)
    assert len(report["reconstruction"]["target train"]["mae_per_dim"]) == 4
    for plot in ("pca.png", "log_density.png", "recon_per_dim.png"):
        assert (run / "report" / plot).stat().st_size > 1000


def test_report_command_and_resume_of_a_finished_run(aligned, capsys) -> None:
    run = aligned / "run"
    assert main(["align", "report", "--stage1", str(run / "stage1"), "--stage2",
                 str(run / "stage2"), "--out", str(aligned / "rep2")]) == 0
    assert "inside 95% region" in capsys.readouterr().out
    assert (aligned / "rep2/report.json").is_file()
    # resuming a finished stage does no more steps and keeps the checkpoint
    before = (run / "stage1/last/model.safetensors").read_bytes()
    assert main(["align", "pretrain", "--resume", str(run / "stage1")]) == 0
    assert (run / "stage1/last/model.safetensors").read_bytes() == before


def test_cli_bad_inputs(aligned, capsys) -> None:
    assert main(["align", "adapt", "--config", str(aligned / "tiny.yaml"), "--data",
                 str(aligned / "target"), "--prior", str(aligned / "nowhere")]) == 2
    assert "prior.safetensors" in capsys.readouterr().err
    assert main(["align", "pretrain", "--resume", str(aligned / "nowhere")]) == 2
    assert main(["align", "pretrain", "--config", str(aligned / "tiny.yaml"),
                 "--model.num-layers", "4"]) == 2


def test_a_fresh_run_never_overwrites_an_existing_one(aligned, capsys) -> None:
    run = aligned / "run"
    before = (run / "stage1/last/model.safetensors").read_bytes()
    assert main(["align", "pretrain", "--config", str(aligned / "tiny.yaml"), "--data",
                 str(aligned / "pretrain"), "--out", str(run / "stage1")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (run / "stage1/last/model.safetensors").read_bytes() == before


def test_align_single_trains_the_run_s_ablation_alone(aligned, tmp_path) -> None:
    # the same config, data and seed as the run's `single` stage, with no stage 1 anywhere
    out = tmp_path / "single"
    assert main(["align", "single", "--config", str(aligned / "tiny.yaml"), "--data",
                 str(aligned / "target"), "--out", str(out)]) == 0
    assert not (tmp_path / "stage1").exists()
    ours = (out / "last/model.safetensors").read_bytes()
    assert ours == (aligned / "run/single/last/model.safetensors").read_bytes()
    # resuming the finished run trains no further and keeps its checkpoint
    assert main(["align", "single", "--resume", str(out)]) == 0
    assert (out / "last/model.safetensors").read_bytes() == ours
