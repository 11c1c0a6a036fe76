"""Fine-tuning length as a bench axis: a grid of lengths is one run of the longest, a killed
job resumes from its checkpoint to the same weights, retention and validation loss are
recorded and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ate.bench.jobs import begin_segment, checkpoint_step, end_segment
from ate.data import write_hdf5_episodes
from ate.data.config import DataConfig
from ate.data.synthetic import synthetic_episodes
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import train_policy
from ate.policies import PolicyConfig
from ate.training.config import OptimConfig, TrainConfig


def run_config(data: Path, steps: int) -> PolicyRunConfig:
    """The bench's shape of a fine-tuning config: constant learning rate, cadence from the
    length."""
    return PolicyRunConfig(
        data=DataConfig(path=str(data), chunk_length=8, obs_horizon=0, val_fraction=0.0),
        policy=PolicyConfig(kind="flow", width=32, layers=1, heads=2, inference_steps=2),
        optim=OptimConfig(lr=1e-3, lr_decay=1.0, batch_size=8),
        train=TrainConfig(epochs=10**6, max_steps=steps, val_every=max(steps // 4, 1),
                          save_every=max(steps // 4, 1), seed=3))


def weights(job: Path) -> dict[str, torch.Tensor]:
    return load_file(str(job / "policy" / "last" / "model.safetensors"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lengths") / "demos"
    write_hdf5_episodes(root, synthetic_episodes(4, 3, length=(20, 30)))
    return root


def test_a_longer_job_continued_from_a_shorter_one_is_the_longer_run(data, tmp_path) -> None:
    train_policy(run_config(data, 12), tmp_path / "whole" / "policy")

    short = tmp_path / "k5"
    assert begin_segment(short, None) is None
    result = train_policy(run_config(data, 5), short / "policy")
    seconds = end_segment(short, result.step)
    (short / "eval.json").write_text(json.dumps({"train_s": seconds}))

    long = tmp_path / "k12"
    resume = begin_segment(long, short)
    assert resume == long / "policy" and checkpoint_step(resume / "last") == 5
    result = train_policy(run_config(data, 12), long / "policy", resume=resume)
    total = end_segment(long, result.step)
    assert result.step == 12
    whole = weights(tmp_path / "whole")
    assert all(torch.equal(whole[k], v) for k, v in weights(long).items())
    segments = json.loads((long / "segments.json").read_text())
    assert segments[0]["from"] == "warm start" and segments[0]["to_step"] == 5
    assert total == pytest.approx(seconds + segments[1]["seconds"])


def test_a_killed_job_resumes_from_its_checkpoint_to_the_same_weights(data, tmp_path) -> None:
    train_policy(run_config(data, 12), tmp_path / "whole" / "policy")
    job = tmp_path / "job"
    assert begin_segment(job, None) is None
    train_policy(run_config(data, 12), job / "policy", until_step=8)  # stopped at step 8
    assert checkpoint_step(job / "policy" / "last") == 8
    resume = begin_segment(job, None)  # the next invocation
    assert resume == job / "policy"
    result = train_policy(run_config(data, 12), job / "policy", resume=resume)
    end_segment(job, result.step)
    whole = weights(tmp_path / "whole")
    assert all(torch.equal(whole[k], v) for k, v in weights(job).items())
    segments = json.loads((job / "segments.json").read_text())
    assert [s.get("killed", False) for s in segments] == [True, False]
    assert [(s["from_step"], s["to_step"]) for s in segments] == [(0, 8), (8, 12)]


def test_bench_grid_of_lengths_with_retention_and_validation(tmp_path) -> None:
    pytest.importorskip("metaworld")
    from ate.bench.config import ML45_TRAIN
    from ate.cli import main

    out = tmp_path / "bench"
    args = ["bench", "--quick", "--out", str(out), "--metaworld.arms", "direct", "ate_paper",
            "--metaworld.lengths", "3", "6", "--metaworld.retention-tasks", ML45_TRAIN[0],
            "--metaworld.val-demos", "2"]
    assert main(args) == 0
    suite = json.loads((out / "results.json").read_text())["suites"][0]
    assert suite["lengths"] == [3, 6]
    assert {(r["arm"], r["steps"]) for r in suite["rows"]} == {
        (a, k) for a in ("direct", "ate_paper") for k in (3, 6)}
    for row in suite["rows"]:
        assert row["retained"]["episodes"] == 2 and "val_loss" in row
    assert suite["retention_before"]["episodes"] == 2
    runs = out / "metaworld" / "runs"
    long = runs / "direct" / "n2-s0-k6"
    assert json.loads((long / "segments.json").read_text())[0]["job"] == "n2-s0"
    record = json.loads((long / "eval.json").read_text())
    assert record["steps"] == 6 and record["run"]["train"]["max_steps"] == 6
    assert record["retained"][0]["task"] == ML45_TRAIN[0]
    text = (out / "results.md").read_text()
    for diff in suite["differences"]:  # retention paired like success, per length
        lo, hi = diff["retained_interval"]
        assert diff["arm"] == "ate_paper" and lo <= diff["retained_difference"] <= hi
    for heading in ("after 6 fine-tuning steps", "Success vs fine-tuning length",
                    "Retained success on pre-training tasks", "Validation loss",
                    "Paired difference in retained success"):
        assert heading in text
    for name in ("success_vs_steps", "retained_vs_steps", "val_loss_vs_steps"):
        assert (out / f"{name}_metaworld-n2.png").stat().st_size > 1000
    # rerun: everything reused
    stamps = {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json")}
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json")} == stamps
    # a job finished before retention (and validation) were asked: measured on its saved
    # policy, the same numbers (seeded episodes and draws)
    path = runs / "direct" / "n2-s0" / "eval.json"
    full = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in full.items()
                                if k not in ("retained", "val_loss")}))
    assert main(args) == 0
    again = json.loads(path.read_text())
    assert again["retained"] == full["retained"]
    assert again["val_loss"] == pytest.approx(full["val_loss"])


def test_retained_difference_pairs_the_retention_episodes() -> None:
    from ate.bench.report import retained_difference

    def job(arm, seed, kept):
        return {"arm": arm, "n": 5, "seed": seed, "steps": 300, "evals": [],
                "retained": [{"task": "reach-v3", "outcomes": kept}]}

    jobs = [job("direct", 0, [1, 1, 0, 0]), job("ate", 0, [1, 1, 1, 0]),
            job("direct", 1, [0, 0, 0, 0]), job("ate", 1, [0, 1, 0, 0])]
    got = retained_difference(jobs, "ate", 5, 300)
    assert got["retained_difference"] == pytest.approx(0.25)  # (+1/4 + +1/4) / 2
    lo, hi = got["retained_interval"]
    assert 0.0 <= lo <= 0.25 <= hi <= 1.0  # no episode difference is negative
    assert retained_difference([j for j in jobs if j["arm"] == "ate"], "ate", 5, 300) == {}
