"""The protocol of BENCHMARKS.md for one suite, resumable at every step.

demos (generated once, reused; ``ate.bench.demos``) -> pre-trained policy and stage-1 VAE
(cached under a hash of their config and data; ``ate.bench.cache``) -> per (N, seed): a demo
subset, a stage-2 and a single-stage VAE and the subset's coverage (``ate.bench.align``) ->
per (arm, N, seed): one multi-task fine-tuning, evaluated on every target (task, robot) at
each fine-tuning length of the grid (``ate.bench.jobs``), two chains at a time in worker
processes. A finished job leaves ``eval.json`` and is skipped when the bench is run again;
an interrupted one continues from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ate.bench.align import align_folder, align_stage1, align_target, read_coverage
from ate.bench.cache import (
    cache_key,
    cached,
    kernels,
    peak_mb,
    pretrain_payload,
    vae_payload,
    weights_print,
)
from ate.bench.config import (
    ACTION_SPACE_ARM,
    ATE_REHEARSAL,
    LATENT_ARMS,
    REHEARSAL,
    SuiteConfig,
)
from ate.bench.demos import data_config, make_demos, make_subset, subset_print, target_slots
from ate.bench.jobs import interrupted
from ate.config import from_dict, to_dict
from ate.data.config import DataConfig, SlotConfig
from ate.errors import ConfigError
from ate.steer.action_space import ACTION_SPACE
from ate.training.config import OptimConfig, TrainConfig

if TYPE_CHECKING:
    from ate.finetune.config import PolicyRunConfig

log = logging.getLogger(__name__)

GUIDED = ("ate_paper", "ate_tilted", "single_stage", ACTION_SPACE_ARM, ATE_REHEARSAL)


def same_run(a: dict, b: dict) -> bool:
    """Two fine-tuning configs train the same policy (guidance and latent-term settings
    matter only when used)."""
    unused = {name for name, source in (("guidance", "guidance_from"),
                                        ("latent_loss", "latent_loss_from"))
              if not (a.get(source) or b.get(source))}
    return ({k: v for k, v in a.items() if k not in unused}
            == {k: v for k, v in b.items() if k not in unused})


def current(run: dict) -> dict:
    """A recorded run config in today's schema: fields added since it was written take their
    defaults, which reproduce the behaviour from before they existed."""
    from ate.finetune.config import PolicyRunConfig
    from ate.steer.guidance import recorded_guidance

    if "guidance" in run:
        run = {**run, "guidance": recorded_guidance(run["guidance"])}
    return to_dict(from_dict(PolicyRunConfig, run, "a finished job's eval.json"))


def portable(run: dict) -> dict:
    """A bench job's run config with its ``--out`` folder's location replaced by ``<out>``
    (found from the subset path, ``<out>/<suite>/data/target/n<N>-s<seed>``), so a moved or
    renamed bench folder keeps its finished jobs."""
    root = str(Path(run["data"]["path"]).parents[3])

    def strip(value: object) -> object:
        return ("<out>" + value[len(root):] if isinstance(value, str)
                and value.startswith(root + "/") else value)

    return {**run, "data": {**run["data"], "path": strip(run["data"]["path"])},
            "data_extra": [{**d, "path": strip(d["path"])} for d in run.get("data_extra", [])],
            "init_from": strip(run.get("init_from")),
            "guidance_from": strip(run.get("guidance_from")),
            "latent_loss_from": strip(run.get("latent_loss_from"))}


@dataclass
class StageTime:
    """Wall time and peak resident memory of one stage."""

    stage: str
    seconds: float
    peak_mb: float
    note: str = ""


@dataclass
class SuiteRun:
    """What a suite produced: per-job evaluations and the stage costs."""

    config: SuiteConfig
    folder: Path
    jobs: list[dict] = field(default_factory=list)
    stages: list[StageTime] = field(default_factory=list)
    expert: list[dict] = field(default_factory=list)
    stage1: Path | None = None
    retention_before: list[dict] = field(default_factory=list)
    coverage: list[dict] = field(default_factory=list)  # per (N, seed): align.coverage's


class _Clock:
    def __init__(self, run: SuiteRun, stage: str) -> None:
        self.run, self.stage = run, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()
        log.info("bench %s: %s", self.run.config.suite, self.stage)

    def __exit__(self, *exc: object) -> None:
        self.run.stages.append(StageTime(self.stage, time.perf_counter() - self.start,
                                         max(peak_mb(), peak_mb(children=True))))


def run_suite(config: SuiteConfig, folder: Path) -> SuiteRun:
    """Run (or resume) one suite in ``folder``; returns its jobs' results."""
    run = SuiteRun(config, folder)
    with _Clock(run, "demos"):
        pretrain_dir, pool_dir = make_demos(config, folder / "data", run.expert)
    cache = folder.parent / "cache"
    pre_policy = _cached_stage(run, "policy pre-training", cache, "policy",
                               pretrain_payload(config, pretrain_dir),
                               lambda out: pretrain_policy(config, pretrain_dir, out))
    stage1 = _cached_stage(run, "align stage 1", cache, "vae", vae_payload(config, pretrain_dir),
                           lambda out: align_stage1(config, pretrain_dir, out))
    run.stage1 = stage1
    if config.retention_tasks:
        with _Clock(run, "retention of the pre-trained policy"):
            from ate.bench.heldout import retention_before

            run.retention_before = retention_before(config, pre_policy, folder)
    val_dir = str(folder / "data" / "val") if config.val_demos else None
    slots = target_slots(config, pool_dir)
    subsets = {(n, s): make_subset(pool_dir, n, s, folder / "data" / "target" / f"n{n}-s{s}",
                                   config.pool_size)
               for n in config.demos for s in config.seeds}
    align_root = align_folder(config, folder)
    with _Clock(run, "align stage 2 + single-stage VAEs"):
        calls = [(config, slots, str(stage1), str(path), str(align_root / f"n{n}-s{s}"))
                 for (n, s), path in subsets.items()]
        _map(align_target, calls, config.workers)
    run.coverage = [{"n": n, "seed": s, **cover} for (n, s) in subsets
                    if (cover := read_coverage(align_root / f"n{n}-s{s}"))]
    # arms without a VAE do not depend on the settings a variant changes: shared
    arm_dir = {arm: f"{arm}-{config.tag}" if config.tag
               and arm in (*GUIDED, *LATENT_ARMS, REHEARSAL) else arm
               for arm in config.arms}
    chains = [(config, slots, arm, n, s, str(subsets[n, s]), str(pre_policy),
               str(align_root / f"n{n}-s{s}"),
               [(k, str(folder / "runs" / arm_dir[arm] / job_name(config, n, s, k)))
                for k in config.grid_lengths], val_dir)
              for n in config.demos for s in config.seeds for arm in config.arms]
    finished = sum((Path(out) / "eval.json").exists() for c in chains for _, out in c[8])
    with _Clock(run, "fine-tuning + evaluation"):
        run.jobs = [job for chain in _map(finetune_chain, chains, config.workers)
                    for job in chain]
    if finished:
        run.stages[-1].note = f"{finished} of {len(run.jobs)} jobs finished before this run"
    return run


def job_name(config: SuiteConfig, n: int, seed: int, steps: int) -> str:
    """``n<N>-s<seed>``, with ``-k<steps>`` for a length other than ``finetune_steps``."""
    return f"n{n}-s{seed}" + ("" if steps == config.finetune_steps else f"-k{steps}")


def _map(job, calls: list[tuple], workers: int) -> list:
    from ate.sim.parallel import map_processes

    return map_processes(job, calls, workers)


def _cached_stage(run: SuiteRun, stage: str, cache: Path, kind: str, payload: dict, build
                  ) -> Path:
    """:func:`cached` timed as a stage; a reused folder's stage notes what building it cost."""
    folder = cache / f"{kind}-{cache_key(payload)}"
    reused = (folder / "done.json").exists()
    with _Clock(run, stage):
        cached(cache, kind, payload, build)
    if reused:
        cost = folder / "cost.json"
        built = json.loads(cost.read_text()) if cost.exists() else None
        run.stages[-1].note = (f"cached; built in {built['seconds'] / 60:.1f} min, peak "
                               f"{built['peak_mb']:.0f} MB" if built else
                               "cached; built before build costs were recorded")
    return folder


def policy_run(config: SuiteConfig, data: DataConfig, steps: int, seed: int):
    """The ``PolicyRunConfig`` of a pre-training or fine-tuning in this suite."""
    from ate.finetune.config import PolicyRunConfig

    return PolicyRunConfig(
        data=data, policy=config.policy,
        optim=OptimConfig(lr=config.lr, lr_decay=1.0, batch_size=config.batch_size),
        train=TrainConfig(epochs=10**6, max_steps=steps, val_every=max(steps // 4, 1),
                          save_every=max(steps // 4, 1), seed=seed),
        guidance=config.guidance)


def pretrain_policy(config: SuiteConfig, data: Path, out: Path) -> None:
    """Pre-train the suite's policy on every pre-training (task, robot)."""
    import torch

    from ate.finetune.run import train_policy

    torch.set_num_threads(max(config.workers, 1))
    train_policy(policy_run(config, data_config(config, data, 0.05, SlotConfig()),
                            config.pretrain_steps, 0), out, resume=interrupted(out))


def with_steer_shift(record: dict, run: PolicyRunConfig, path: Path) -> dict:
    """A finished guided job's record with its ``steer`` shift (``ShiftReport``); jobs
    finished before it (or one of its fields) was recorded get it measured now (no
    training, the same numbers) and saved."""
    from ate.steer.shift import ShiftReport

    fields = set(ShiftReport.__dataclass_fields__)
    if not run.guidance_from or fields <= set(record.get("steer", {})):
        return record
    from ate.finetune.run import steer_shift

    report = steer_shift(run)
    if report is None:
        return record
    record = {**record, "steer": report.to_dict()}
    path.with_suffix(".json.tmp").write_text(json.dumps(record))
    path.with_suffix(".json.tmp").replace(path)
    return record


def set_aside(folder: Path) -> Path:
    """Rename a stale result ``folder`` to a free ``<name>.stale-<k>`` beside it."""
    k = 0
    while (stale := folder.with_name(f"{folder.name}.stale-{k}")).exists():
        k += 1
    folder.rename(stale)
    return stale


# -- one arm ----------------------------------------------------------------------------------
def finetune_chain(config: SuiteConfig, slots: SlotConfig, arm: str, n: int, seed: int,
                   target: str, pre_policy: str, align: str, outs: list[tuple[int, str]],
                   val: str | None = None) -> list[dict]:
    """One (arm, N, seed) at every fine-tuning length of ``outs`` ((steps, folder), shortest
    first): each length's job resumes from the previous one's last checkpoint."""
    records, warm = [], None
    for steps, out in outs:
        records.append(finetune_and_evaluate(config, slots, arm, n, seed, target, pre_policy,
                                             align, out, steps, warm, val))
        warm = Path(out)
    return records


def job_run(config: SuiteConfig, slots: SlotConfig, arm: str, seed: int, target: str,
            pre_policy: str, align: str, steps: int) -> PolicyRunConfig:
    """The fine-tuning config of one job."""
    run = policy_run(config, data_config(config, Path(target), 0.0, slots), steps, seed)
    if arm != "scratch":
        run = replace(run, init_from=pre_policy)
    if arm in GUIDED:
        sign = "tilted" if arm == "ate_tilted" else "paper"
        source = (ACTION_SPACE if arm == ACTION_SPACE_ARM else
                  str(Path(align) / ("single" if arm == "single_stage" else "stage2")))
        run = replace(run, guidance=replace(config.guidance, sign=sign), guidance_from=source)
    if arm in (REHEARSAL, ATE_REHEARSAL):  # the pre-training demos, beside the target's
        pretrain = data_config(config, Path(target).parents[1] / "pretrain", 0.0, SlotConfig())
        run = replace(run, data_extra=(pretrain,),
                      data_shares=(1 - config.rehearsal_share, config.rehearsal_share))
    if arm in LATENT_ARMS:
        kind = arm.removeprefix("latent_")
        run = replace(run, latent_loss=replace(config.latent_loss, kind=kind),
                      latent_loss_from=str(Path(align) / "stage2"))
    return run


def finetune_and_evaluate(config: SuiteConfig, slots: SlotConfig, arm: str, n: int, seed: int,
                          target: str, pre_policy: str, align: str, out: str,
                          steps: int | None = None, warm: Path | None = None,
                          val: str | None = None) -> dict:
    """Train one arm's multi-task policy on a demo subset for ``steps`` (default
    ``finetune_steps``; continuing the finished shorter job ``warm``, or this job's own
    interrupted run) and evaluate it on every target (task, robot), and on the retention
    tasks; the result is also written to ``out/eval.json``."""
    import torch

    from ate.bench.rollout import evaluate_task
    from ate.checkpoint import resolve_checkpoint
    from ate.finetune.run import train_policy
    from ate.sim.generate import EVAL_SEED_BASE

    torch.set_num_threads(1)
    folder = Path(out)
    steps = steps or config.finetune_steps
    run = job_run(config, slots, arm, seed, target, pre_policy, align, steps)
    data = subset_print(Path(target))
    if (folder / "eval.json").exists():
        done = json.loads((folder / "eval.json").read_text())
        inputs = weights_print(to_dict(run))
        if done.get("data") != data:
            stale = set_aside(folder)
            log.warning("%s was trained on another draw of its demo subset (the pool changed);"
                        " moved to %s and trained again", folder, stale)
        elif done.setdefault("inputs", inputs) != inputs:
            stale = set_aside(folder)
            log.warning("%s was trained from other pre-trained weights or VAEs (another "
                        "machine's pre-training; its kernels: %s, this machine's: %s); moved "
                        "to %s and trained again", folder, done.get("kernels", "not recorded"),
                        kernels(), stale)
        elif not same_run(portable(current(done["run"])), portable(to_dict(run))) or len(
                done["evals"][0]["outcomes"]) != config.eval_episodes:
            raise ConfigError(f"{folder} holds a run of another config; give this variant a "
                              "--<suite>.tag or another --out (nothing was overwritten).")
        else:
            return enrich(done, config, run, folder, pre_policy, val)
    if not _continues(folder, run):
        shutil.rmtree(folder, ignore_errors=True)  # a run of another config: start over
    from ate.bench.jobs import begin_segment, end_segment

    warm = warm if warm is not None and _continues(warm, run, length_free=True) else None
    resume = begin_segment(folder, warm)
    result = train_policy(run, folder / "policy", resume=resume)
    train_s = end_segment(folder, result.step)
    policy_dir = str(resolve_checkpoint(result.last.parent))
    tic = time.perf_counter()
    evals = []
    for robot in config.target_robots or (None,):
        for task in config.target_tasks:
            r = evaluate_task(policy_dir, config.suite, task, config.eval_episodes,
                              config.execute, EVAL_SEED_BASE, config.max_steps,
                              batch=config.eval_batch, robot=robot)
            evals.append({"task": task, "robot": robot or "", "outcomes": r.outcomes,
                          "seeds": r.seeds})
    record = {"arm": arm, "n": n, "seed": seed, "steps": steps, "train_s": train_s,
              "eval_s": time.perf_counter() - tic, "peak_mb": peak_mb(),
              # fine-tuning holds out no validation split: no loss to report then
              "best_val_loss": result.best_val if math.isfinite(result.best_val) else None,
              "evals": evals, "run": to_dict(run), "data": data,
              "inputs": weights_print(to_dict(run)), "kernels": kernels()}
    if (folder / "policy" / "steer_shift.json").exists():
        record["steer"] = json.loads((folder / "policy" / "steer_shift.json").read_text())
    return enrich(record, config, run, folder, pre_policy, val)


def _continues(folder: Path, run: PolicyRunConfig, length_free: bool = False) -> bool:
    """Whether ``folder/policy/last`` was written by ``run`` (with ``length_free``: by the
    same run of any length); False without a checkpoint."""
    from ate.bench.jobs import checkpoint_step
    from ate.finetune.run import load_run_config

    if checkpoint_step(folder / "policy" / "last") is None:
        return False
    saved, _ = load_run_config(folder / "policy")
    a, b = portable(to_dict(saved)), portable(to_dict(run))
    if length_free:
        a, b = ({**r, "train": {k: v for k, v in r["train"].items() if k not in LENGTH_FIELDS}}
                for r in (a, b))
    return a == b


# fields of a fine-tuning that change with its length but not the weights at a given step
LENGTH_FIELDS = ("max_steps", "val_every", "save_every")


def enrich(record: dict, config: SuiteConfig, run: PolicyRunConfig, folder: Path,
           pre_policy: str, val: str | None) -> dict:
    """A job's record with what this bench asks beyond it, measured on its saved policy
    (no training) when missing: Steer's shift, success on the retention tasks, the loss on
    the validation demos. Saved back to ``folder/eval.json``."""
    from ate.bench.heldout import retention_evals, validation_loss

    record = with_steer_shift(record, run, folder / "eval.json")
    saved = folder / "eval.json"
    before = json.loads(saved.read_text()) if saved.exists() else None
    record.setdefault("steps", config.finetune_steps)
    policy = folder / "policy"
    if config.retention_tasks and {e["task"] for e in record.get("retained", [])} != set(
            config.retention_tasks):
        record["retained"] = retention_evals(config, policy, pre_policy)
    if val and "val_loss" not in record:
        record["val_loss"] = validation_loss(policy, Path(val), config)
    if record != before:
        tmp = folder / "eval.json.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(saved)
    return record
