"""``ate bench``: statistics against closed forms, config validation, and the whole
protocol end to end on a tiny budget (Meta-World)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

from ate.bench.cache import cache_key, pretrain_payload
from ate.bench.config import BenchConfig, SuiteConfig, quick
from ate.bench.demos import make_subset, subset_print
from ate.bench.report import paired_difference, suite_markdown, summarize
from ate.bench.suite import StageTime, SuiteRun
from ate.errors import ConfigError


def test_paired_difference_closed_forms() -> None:
    a = {0: [np.array([1.0, 1.0, 0.0, 0.0])], 1: [np.array([1.0, 0.0, 1.0, 0.0])]}
    same = paired_difference(a, a)
    assert same == (0.0, 0.0, 0.0)  # identical arms: no difference, no spread
    ones = {s: [np.ones(4)] for s in a}
    point, lo, hi = paired_difference(ones, a)
    assert point == pytest.approx(0.5)  # 1 - mean(a)
    assert 0.0 <= lo <= point <= hi <= 1.0 and hi > lo
    # a constant shift of every episode has a degenerate interval at the shift
    shifted = {0: [np.ones(4)], 1: [np.ones(4)]}
    zeros = {0: [np.zeros(4)], 1: [np.zeros(4)]}
    assert paired_difference(shifted, zeros) == (1.0, 1.0, 1.0)


def test_summary_counts_each_target_per_n_and_notes_reused_work(tmp_path) -> None:
    cfg = replace(SuiteConfig(), demos=(5, 10), seeds=(0, 1), arms=("direct", "scratch"),
                  target_tasks=("reach-v3", "push-v3"))
    rng = np.random.default_rng(0)
    jobs = [{"arm": arm, "n": n, "seed": seed, "train_s": 1.0, "eval_s": 2.0, "peak_mb": 9.0,
             "evals": [{"task": t, "robot": "", "outcomes": rng.integers(0, 2, 6).tolist()}
                       for t in cfg.target_tasks]}
            for arm in cfg.arms for n in cfg.demos for seed in cfg.seeds]
    run = SuiteRun(cfg, tmp_path, jobs, [StageTime("demos", 60.0, 5.0, "reused")])
    s = summarize(run)
    (push,) = [t for t in s["per_target"] if t["arm"] == "scratch" and t["task"] == "push-v3"]
    by_n = {n: np.mean([x for j in jobs if j["arm"] == "scratch" and j["n"] == n
                        for x in j["evals"][1]["outcomes"]]) for n in cfg.demos}
    assert push["by_n"] == pytest.approx({"5": by_n[5], "10": by_n[10]})
    assert push["rate"] == pytest.approx((by_n[5] + by_n[10]) / 2)  # equal episodes per N
    assert push["episodes"] == 2 * 2 * 6
    md = "\n".join(suite_markdown(s, run, []))
    assert f"{push['rate']:.1%} ({by_n[5]:.0%} / {by_n[10]:.0%})" in md
    assert "| demos (reused) | 1.0 min | 5 MB |" in md


def test_per_target_tables_come_one_per_fine_tuning_length(tmp_path) -> None:
    cfg = replace(SuiteConfig(), demos=(5,), seeds=(0, 1), arms=("direct", "ate_paper"),
                  target_tasks=("reach-v3", "push-v3"), lengths=(300, 10000), finetune_steps=300)
    rng = np.random.default_rng(1)
    jobs = [{"arm": arm, "n": 5, "seed": seed, "steps": k, "train_s": 1.0, "eval_s": 1.0,
             "peak_mb": 1.0, "evals": [{"task": t, "robot": "", "outcomes":
                                        rng.integers(0, 2, 8).tolist()} for t in cfg.target_tasks]}
            for arm in cfg.arms for seed in cfg.seeds for k in cfg.lengths]
    s = summarize(SuiteRun(cfg, tmp_path, jobs, []))
    assert s["per_target_steps"] == 300
    md = "\n".join(suite_markdown(s, SuiteRun(cfg, tmp_path, jobs, []), []))
    for k in cfg.lengths:
        (push,) = [t for t in s["per_target"]
                   if t["arm"] == "ate_paper" and t["task"] == "push-v3" and t["steps"] == k]
        expected = np.mean([x for j in jobs if j["arm"] == "ate_paper" and j["steps"] == k
                            for x in j["evals"][1]["outcomes"]])
        assert push["rate"] == pytest.approx(expected) and push["episodes"] == 2 * 8
        table = md.split(f"### Per target after {k} fine-tuning steps")[1].split("###")[0]
        (row,) = [line for line in table.splitlines() if line.startswith("| ate_paper |")]
        assert row.split(" | ")[1] == f"{expected:.1%}"  # columns: push-v3, reach-v3


def test_ate_is_paired_with_its_controls_on_the_seeds_both_finished(tmp_path) -> None:
    cfg = replace(SuiteConfig(), demos=(5,), seeds=(0, 1, 2), target_tasks=("reach-v3",),
                  arms=("direct", "ate_paper", "ate_tilted", "single_stage"))
    rng = np.random.default_rng(2)
    wins = {"direct": None, "ate_paper": 1, "ate_tilted": 0, "single_stage": None}

    def job(arm: str, seed: int) -> dict:
        out = (rng.integers(0, 2, 10) if wins[arm] is None else np.full(10, wins[arm]))
        return {"arm": arm, "n": 5, "seed": seed, "train_s": 1.0, "eval_s": 1.0,
                "peak_mb": 1.0, "evals": [{"task": "reach-v3", "robot": "",
                                           "outcomes": out.tolist()}]}

    # single_stage has not finished seed 2: the pair uses seeds 0 and 1 only
    jobs = [job(a, s) for a in cfg.arms for s in cfg.seeds if (a, s) != ("single_stage", 2)]
    run = SuiteRun(cfg, tmp_path, jobs, [])
    s = summarize(run)
    tilted, single = s["controls"]
    # every ATE episode succeeded and every tilted one failed: a difference of exactly 1
    assert (tilted["against"], tilted["difference"], tilted["interval"]) == (
        "ate_tilted", 1.0, [1.0, 1.0])
    mine = {j["seed"]: [np.asarray(j["evals"][0]["outcomes"], dtype=float)] for j in jobs
            if j["arm"] == "ate_paper" and j["seed"] < 2}
    theirs = {j["seed"]: [np.asarray(j["evals"][0]["outcomes"], dtype=float)] for j in jobs
              if j["arm"] == "single_stage"}
    point, lo, hi = paired_difference(mine, theirs)
    assert single["seeds"] == [0, 1] and single["difference"] == pytest.approx(point)
    assert single["interval"] == pytest.approx([lo, hi])
    md = "\n".join(suite_markdown(s, run, []))
    assert "| ate_paper - ate_tilted (the sign) | +100.0% [+100.0%, +100.0%] |" in md
    # without a control arm the report has no such table
    bare = replace(cfg, arms=("direct", "ate_paper"))
    plain = summarize(SuiteRun(bare, tmp_path, [j for j in jobs if j["arm"] in bare.arms], []))
    assert plain["controls"] == []


def test_the_coverage_table_divides_and_names_each_warning() -> None:
    from ate.align.coverage import coverage_warnings
    from ate.bench.report import coverage_section

    uncovered = {"pre-training": 0.2, "target": 0.6, "control: time-shuffled": 0.9,
                 "control: uniform noise": 1.8, "ratio": 3.0}
    covered = {"pre-training": 0.2, "target": 0.22, "control: time-shuffled": 0.23,
               "control: uniform noise": 0.66, "ratio": 1.1}
    alone = {"pre-training": None, "target": 0.3, "control: time-shuffled": 0.6,
             "control: uniform noise": 0.9, "ratio": None}
    rows = [{"n": n, "seed": 0, **c, "warnings": coverage_warnings(c)}
            for n, c in ((25, alone), (10, covered), (5, uncovered))]
    lines = coverage_section(rows)
    table = [line for line in lines if line.startswith("| ") and line[2].isdigit()]
    assert table == ["| 5 | 0 | 0.200 | 0.600 | 3.00 | 1.50 | 3.00 | not covered |",
                     "| 10 | 0 | 0.200 | 0.220 | 1.10 | 1.05 | 3.00 | controls |",
                     "| 25 | 0 | - | 0.300 | - | 2.00 | 3.00 | - |"]
    assert coverage_section([]) == []


def test_suite_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="robots"):
        SuiteConfig(suite="robosuite", pretrain_tasks=("Lift",), target_tasks=("Lift",))
    with pytest.raises(ConfigError, match="demos"):
        SuiteConfig(demos=(0,))
    q = quick(SuiteConfig())
    assert q.target_tasks == SuiteConfig().target_tasks[:1] and q.demos == (2,)


def test_the_end_effector_suite_is_selected_and_set_on_the_command_line() -> None:
    from ate.config import parse_cli

    cfg = parse_cli(BenchConfig, ["--suite", "robosuite-eef", "--robosuite-eef.target-robots",
                                  "Kinova3", "--robosuite-eef.demos", "5"], "ate bench")
    (suite,) = cfg.selected()
    assert suite.suite == "robosuite-eef" and suite.target_robots == ("Kinova3",)
    assert suite.demos == (5,) and suite.pretrain_robots == cfg.robosuite.pretrain_robots
    assert cfg.robosuite.target_robots == ("UR5e",)  # the joint-space suite is untouched
    assert [s.suite for s in BenchConfig(suite="all").selected()] == ["metaworld", "robosuite"]
    with pytest.raises(ConfigError, match="robots"):
        SuiteConfig(suite="robosuite-eef", pretrain_tasks=("Lift",), target_tasks=("Lift",))


def test_subsets_are_seeded_and_shared(tmp_path) -> None:
    for task in ("a", "b"):
        (tmp_path / "pool" / task).mkdir(parents=True)
        for i in range(6):
            (tmp_path / "pool" / task / f"episode_{i}.hdf5").write_bytes(bytes([i]))
    one = make_subset(tmp_path / "pool", 3, 7, tmp_path / "s1")
    two = make_subset(tmp_path / "pool", 3, 7, tmp_path / "s2")
    other = make_subset(tmp_path / "pool", 3, 8, tmp_path / "s3")

    def picked(folder):
        return sorted((p.parent.name, p.read_bytes()) for p in folder.rglob("*.hdf5"))

    assert picked(one) == picked(two) and len(picked(one)) == 6
    assert picked(one) != picked(other)
    with pytest.raises(Exception, match="fewer than N"):
        make_subset(tmp_path / "pool", 7, 0, tmp_path / "s4")
    # a pool size fixes what is drawn from: more demos recorded later change nothing
    assert picked(make_subset(tmp_path / "pool", 3, 7, tmp_path / "s6", size=6)) == picked(one)
    # reused while the pool is unchanged; drawn again from a grown pool when it has no fixed
    # size (a subset of 3 from a pool of 3 would otherwise be every seed's subset forever)
    small = tmp_path / "small"
    for task in ("a", "b"):
        (small / task).mkdir(parents=True)
        for i in range(3):
            (small / task / f"episode_{i}.hdf5").write_bytes(bytes([i]))
    first = picked(make_subset(small, 3, 7, tmp_path / "s5"))
    before = subset_print(tmp_path / "s5")
    assert picked(make_subset(small, 3, 7, tmp_path / "s5")) == first
    for task in ("a", "b"):
        for i in range(3, 9):
            (small / task / f"episode_{i}.hdf5").write_bytes(bytes([i]))
    assert picked(make_subset(small, 3, 7, tmp_path / "s6", size=6)) == picked(one)
    assert picked(make_subset(small, 3, 7, tmp_path / "s5")) != first
    assert subset_print(tmp_path / "s5") != before
    with pytest.raises(Exception, match="pool of 12"):
        make_subset(small, 3, 7, tmp_path / "s7", size=12)


def test_bench_quick_end_to_end_and_resume(tmp_path) -> None:
    pytest.importorskip("metaworld")
    from ate.cli import main

    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    suite = result["suites"][0]
    cfg = quick(BenchConfig().metaworld)
    assert {r["arm"] for r in suite["rows"]} == set(cfg.arms)
    for row in suite["rows"]:
        assert row["episodes"] == cfg.eval_episodes * len(cfg.target_tasks) * len(cfg.seeds)
        assert row["interval"][0] <= row["rate"] <= row["interval"][1]
    assert len(suite["differences"]) == len(cfg.arms) - 1
    assert (out / "success_vs_n_metaworld.png").stat().st_size > 1000
    assert "| direct |" in (out / "results.md").read_text()
    # each subset's coverage: the alignment report's own numbers, recorded beside its Align
    from ate.align.report import build_report

    assert [(c["n"], c["seed"]) for c in suite["coverage"]] == [
        (n, s) for n in cfg.demos for s in cfg.seeds]
    (align,) = (out / "metaworld").glob("align*/n2-s0")
    stage1 = json.loads((align / "stage2/last/config.json").read_text())["align"]["prior_from"]
    report = build_report(Path(stage1), align / "stage2", tmp_path / "report")
    recorded = suite["coverage"][0]
    assert recorded["ratio"] > 0 and set(recorded["warnings"]) <= set(report["warnings"])
    numbers = {k: v for k, v in recorded.items() if k not in ("n", "seed", "warnings")}
    assert numbers == pytest.approx(report["coverage"])
    assert "Does pre-training cover the targets?" in (out / "results.md").read_text()
    # the guided arms really trained with guidance, the others without
    runs = out / "metaworld" / "runs"
    for arm in cfg.arms:
        run = json.loads(next(runs.glob(f"{arm}/*/eval.json")).read_text())["run"]
        assert bool(run["guidance_from"]) == (arm in ("ate_paper", "ate_tilted", "single_stage"))
        assert bool(run["init_from"]) == (arm != "scratch")
    # the paired design: for one (N, seed) every arm saw the same demo subset and was
    # evaluated on the same episode seeds; each guided arm used its own sign and VAE
    jobs = {arm: json.loads((runs / arm / "n2-s0" / "eval.json").read_text())
            for arm in cfg.arms}
    assert len({job["data"] for job in jobs.values()}) == 1
    seeds = {json.dumps([e["seeds"] for e in job["evals"]]) for job in jobs.values()}
    assert len(seeds) == 1 and len(json.loads(seeds.pop())[0]) == cfg.eval_episodes
    guidance = {arm: (job["run"]["guidance"]["sign"], Path(job["run"]["guidance_from"]).name)
                for arm, job in jobs.items() if job["run"]["guidance_from"]}
    assert guidance == {"ate_paper": ("paper", "stage2"), "ate_tilted": ("tilted", "stage2"),
                        "single_stage": ("paper", "single")}
    # guided jobs record how far Steer displaced their regression target
    shift = json.loads((runs / "ate_paper" / "n2-s0" / "eval.json").read_text())["steer"]
    assert shift["ratio"] > 0 and shift["lam"] == cfg.guidance.lam
    assert "displacement of the regression target" in (out / "results.md").read_text()
    # a job finished before that was recorded gets it measured again, the same number
    record = json.loads((runs / "ate_paper" / "n2-s0" / "eval.json").read_text())
    del record["steer"]
    (runs / "ate_paper" / "n2-s0" / "eval.json").write_text(json.dumps(record))
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    again = json.loads((runs / "ate_paper" / "n2-s0" / "eval.json").read_text())["steer"]
    assert again == pytest.approx(shift)
    # a second run reuses every finished job and the cached pre-training
    stamps = {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json")}
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json")} == stamps
    assert len(list((out / "cache").glob("policy-*"))) == 1
    # ... and its report says what it reused and what building that cost
    built = json.loads(next((out / "cache").glob("policy-*/cost.json")).read_text())
    stages = {st["stage"]: st for st in json.loads(
        (out / "results.json").read_text())["suites"][0]["stages"]}
    assert stages["policy pre-training"]["note"] == (
        f"cached; built in {built['seconds'] / 60:.1f} min, peak {built['peak_mb']:.0f} MB")
    assert stages["fine-tuning + evaluation"]["note"].startswith(
        f"{len(stamps)} of {len(stamps)} jobs finished before")
    assert "it reused earlier work" in (out / "results.md").read_text()
    # a job recorded before a config field existed still matches (the field's default is
    # the behaviour from before it)
    record_path = runs / "direct" / "n2-s0" / "eval.json"
    record = json.loads(record_path.read_text())
    del record["run"]["task_features"], record["run"]["policy"]["task_text_dim"]
    record_path.write_text(json.dumps(record))
    stamps = {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json")}
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json")} == stamps
    # a variant with another lambda and no tag would mix results: refused, nothing lost
    assert main(["bench", "--quick", "--out", str(out), "--metaworld.guidance.lam", "1.0"]) == 2
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json")} == stamps
    # tagged, it trains only the guided arms again and shares the rest
    assert main(["bench", "--quick", "--out", str(out), "--metaworld.guidance.lam", "1.0",
                 "--metaworld.tag", "lam1"]) == 0
    assert (runs / "ate_paper-lam1").is_dir() and not (runs / "direct-lam1").exists()
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json") if p in stamps} == stamps
    assert (out / "results-lam1.md").is_file()
    # a latent arm (beyond the paper) reads the ATE arm's stage-2 VAE and its prior
    assert main(["bench", "--quick", "--out", str(out), "--metaworld.arms", "direct",
                 "latent_manifold", "--metaworld.latent-loss.beta", "0.5",
                 "--metaworld.tag", "m0.5"]) == 0
    latent = json.loads((runs / "latent_manifold-m0.5" / "n2-s0" / "eval.json").read_text())
    assert latent["run"]["latent_loss"]["kind"] == "manifold"
    assert latent["run"]["latent_loss"]["beta"] == 0.5 and not latent["run"]["guidance_from"]
    assert latent["run"]["latent_loss_from"] == jobs["ate_paper"]["run"]["guidance_from"]
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json") if p in stamps} == stamps
    # rehearsal co-trains on the pre-training demos, a quarter of every epoch here, with
    # and without Steer on the target's rows
    assert main(["bench", "--quick", "--out", str(out), "--metaworld.arms", "direct",
                 "rehearsal", "ate_rehearsal", "--metaworld.rehearsal-share", "0.25",
                 "--metaworld.tag", "r0.25"]) == 0
    for arm in ("rehearsal", "ate_rehearsal"):
        record = json.loads((runs / f"{arm}-r0.25" / "n2-s0" / "eval.json").read_text())
        assert record["run"]["data_shares"] == [0.75, 0.25]
        (extra,) = record["run"]["data_extra"]
        assert Path(extra["path"]) == out / "metaworld" / "data" / "pretrain"
        assert record["run"]["guidance_from"] == (jobs["ate_paper"]["run"]["guidance_from"]
                                                  if arm == "ate_rehearsal" else "")
    assert "| ate_rehearsal - rehearsal (Steer, under co-training) |" in (
        out / "results-r0.25.md").read_text()
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("eval.json") if p in stamps} == stamps
    # a moved bench folder keeps every finished job
    moved = tmp_path / "moved"
    shutil.copytree(out, moved)
    moved_stamps = {p: p.stat().st_mtime_ns for p in (moved / "metaworld" / "runs").rglob(
        "eval.json")}
    assert main(["bench", "--quick", "--out", str(moved)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (moved / "metaworld" / "runs").rglob(
        "eval.json")} == moved_stamps
    # each job records the weights it started from and was steered by; a record from
    # before that field gets it stamped (same machine, same files) ...
    import torch

    from ate.bench.cache import kernels, weights_print

    guided = runs / "ate_paper" / "n2-s0" / "eval.json"
    record = json.loads(guided.read_text())
    inputs = record.pop("inputs")
    assert inputs == weights_print(record["run"])
    assert record["kernels"] == kernels()
    assert record["kernels"].startswith(torch.backends.cpu.get_cpu_capability())
    guided.write_text(json.dumps(record))
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    assert json.loads(guided.read_text())["inputs"] == inputs
    # ... and one trained from other pre-trained weights (a job record kept from another
    # machine, whose pre-training rounds differently) is set aside and trained again
    record = json.loads(guided.read_text())
    guided.write_text(json.dumps({**record, "inputs": "0" * 16}))
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    assert json.loads(guided.read_text())["inputs"] == inputs
    assert json.loads((runs / "ate_paper" / "n2-s0.stale-0" / "eval.json").read_text())[
        "inputs"] == "0" * 16
    # a pool demo is re-recorded: the subset is drawn again, and the jobs and VAEs trained
    # on the old draw are set aside (kept) and trained again
    subset = out / "metaworld" / "data" / "target" / "n2-s0"
    old_print = subset_print(subset)
    pool_task = next((out / "metaworld" / "data" / "pool").iterdir())
    with h5py.File(pool_task / "episode_0.hdf5", "r+") as f:
        f["action"][...] = 0.5 * f["action"][...]
    assert main(["bench", "--quick", "--out", str(out)]) == 0
    assert subset_print(subset) != old_print
    direct = runs / "direct" / "n2-s0"
    assert json.loads((direct / "eval.json").read_text())["data"] == subset_print(subset)
    assert json.loads((runs / "direct" / "n2-s0.stale-0" / "eval.json").read_text())[
        "data"] == old_print
    (stage2_done,) = (out / "metaworld").glob("align*/n2-s0/stage2/done")
    assert subset_print(subset) in stage2_done.read_text()
    # ... and the coverage of the new draw is measured again
    covered = json.loads((stage2_done.parent.parent / "coverage.json").read_text())
    assert covered["trained_on"] == stage2_done.read_text()


def test_target_slots_put_a_narrower_arm_joints_first_and_gripper_last(tmp_path) -> None:
    from ate.bench.demos import target_slots
    from ate.data import write_hdf5_episodes

    rng = np.random.default_rng(0)
    write_hdf5_episodes(tmp_path / "pretrain", [rng.normal(size=(20, 8)) for _ in range(2)])
    write_hdf5_episodes(tmp_path / "pool", [rng.normal(size=(20, 7)) for _ in range(2)])
    slots = target_slots(SuiteConfig(), tmp_path / "pool")
    assert slots.layout == "explicit" and slots.size == 8
    assert slots.indices == (0, 1, 2, 3, 4, 5, 7)  # UR5e: 6 joints, gripper in slot 7
    write_hdf5_episodes(tmp_path / "wide", [rng.normal(size=(20, 9))])
    with pytest.raises(Exception, match="exceed"):
        target_slots(SuiteConfig(), tmp_path / "wide")


def test_an_interrupted_cached_pretraining_resumes_to_the_same_weights(tmp_path) -> None:
    import torch
    from safetensors.torch import load_file

    from ate.bench.cache import cached
    from ate.bench.demos import data_config
    from ate.bench.suite import policy_run, pretrain_policy
    from ate.data import write_hdf5_episodes
    from ate.data.config import SlotConfig
    from ate.finetune.run import train_policy

    rng = np.random.default_rng(0)
    write_hdf5_episodes(tmp_path / "demos", [rng.normal(size=(30, 3)) for _ in range(3)],
                        action_key="action", tasks=["a", "b", "a"],
                        extra=[{"observations/state": rng.normal(size=(30, 5))}
                               for _ in range(3)])
    cfg = replace(quick(SuiteConfig()), pretrain_steps=8, workers=1)
    run = policy_run(cfg, data_config(cfg, tmp_path / "demos", 0.05, SlotConfig()), 8, 0)
    payload = {"k": 1}
    whole = cached(tmp_path / "a", "policy", payload,
                   lambda out: pretrain_policy(cfg, tmp_path / "demos", out))
    # killed after its step-4 checkpoint: the cache folder holds last/ but no done.json
    part = tmp_path / "b" / f"{whole.name}"
    train_policy(run, part, until_step=4)
    assert not (part / "done.json").exists()
    first_log = sorted((part / "tensorboard").rglob("events.*"))
    assert first_log
    resumed = cached(tmp_path / "b", "policy", payload,
                     lambda out: pretrain_policy(cfg, tmp_path / "demos", out))
    assert resumed == part and (part / "done.json").exists()
    assert set(first_log) <= set((part / "tensorboard").rglob("events.*"))  # continued, kept
    a = load_file(whole / "last" / "model.safetensors")
    b = load_file(resumed / "last" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_align_variants_get_their_own_vaes_and_prior(tmp_path) -> None:
    from ate.align.config import PriorConfig
    from ate.bench.align import align_folder
    from ate.bench.cache import vae_payload

    (tmp_path / "demos").mkdir()
    default = SuiteConfig()
    release = replace(default, adapt=replace(default.adapt, kl_direction="release"))
    stage1 = replace(default, adapt=replace(default.adapt, init="stage1"))
    mixture = replace(default, prior=PriorConfig(kind="mixture"))
    wide = replace(default, vae=replace(default.vae, hidden_dim=128))
    # stage 2 is fitted to stage 1's prior: a longer stage 1 (or stage 2) is another variant
    longer = replace(default, vae_pretrain_steps=default.vae_pretrain_steps * 2)
    adapt = replace(default, vae_adapt_steps=default.vae_adapt_steps * 2)
    variants = (default, release, stage1, mixture, wide, longer, adapt)
    folders = {align_folder(c, tmp_path) for c in variants}
    assert align_folder(default, tmp_path) == tmp_path / "align" and len(folders) == 7
    assert vae_payload(wide, tmp_path / "demos") != vae_payload(default, tmp_path / "demos")
    # only the prior estimator changes stage 1's output
    assert vae_payload(release, tmp_path / "demos") == vae_payload(default, tmp_path / "demos")
    assert vae_payload(mixture, tmp_path / "demos") != vae_payload(default, tmp_path / "demos")


def test_the_cache_key_sees_relabelled_demos_of_the_same_size(tmp_path) -> None:
    import h5py

    from ate.bench.demos import fingerprint

    def write(actions: np.ndarray) -> str:
        (tmp_path / "task").mkdir(exist_ok=True)
        with h5py.File(tmp_path / "task" / "episode_0.hdf5", "w") as f:
            f["action"] = actions.astype(np.float32)
        return fingerprint(tmp_path)

    raw = np.random.default_rng(0).normal(scale=3.0, size=(50, 4))
    path = tmp_path / "task" / "episode_0.hdf5"
    first = write(raw)
    first_size = path.stat().st_size
    clipped = write(np.clip(raw, -1.0, 1.0))  # same shape, same file size, other labels
    assert path.stat().st_size == first_size and clipped != first
    assert write(np.clip(raw, -1.0, 1.0)) == clipped


def test_kernels_names_the_pins_in_force(monkeypatch) -> None:
    import torch

    from ate.bench.cache import KERNEL_PINS, kernels

    for pin in KERNEL_PINS:
        monkeypatch.delenv(pin, raising=False)
    found = torch.backends.cpu.get_cpu_capability()
    assert kernels() == f"{found} (unpinned)"
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert kernels() == f"{found} (MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2)"


def test_policy_cache_keys_survive_config_fields_added_later(tmp_path) -> None:
    # the key of the default pre-training on an empty demo folder, computed with the code
    # from before PolicyConfig.task_text_dim existed (commit 6a65f0f): cached policies of
    # earlier runs must stay valid
    for config in (BenchConfig().metaworld, BenchConfig().robosuite):
        assert cache_key(pretrain_payload(config, tmp_path)) == "07f0911864341b5b"
    changed = replace(BenchConfig().metaworld,
                      policy=replace(BenchConfig().metaworld.policy, task_text_dim=8))
    assert cache_key(pretrain_payload(changed, tmp_path)) != "07f0911864341b5b"


def test_a_second_bench_on_the_same_folder_stops_with_one_line(tmp_path) -> None:
    from ate.bench.config import BenchConfig
    from ate.commands.bench import bench
    from ate.folder_lock import exclusive

    with exclusive(tmp_path, "ate bench"):  # another open of the lock: a second writer
        with pytest.raises(ConfigError, match=r"another ate bench is writing there \(pid"):
            bench(BenchConfig(out=str(tmp_path)), quick_run=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]  # nothing else written
    with exclusive(tmp_path, "ate bench"):  # released on exit: taken again
        pass
