"""Align in the bench: stage 1 on the pre-training demos, then per (N, seed) subset a
stage-2 VAE (pulled into stage 1's prior), the single-stage ablation and the subset's
coverage (``ate.align.report.target_coverage``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

from ate.align.config import AlignConfig
from ate.bench.config import SuiteConfig
from ate.bench.demos import data_config, subset_print
from ate.bench.jobs import interrupted
from ate.data.config import SlotConfig
from ate.training.config import OptimConfig, TrainConfig


def align_folder(config: SuiteConfig, folder: Path) -> Path:
    """Where the stage-2 and single-stage VAEs of this suite's Align settings live:
    ``align/`` for the defaults, ``align-<hash>/`` for a variant of them."""
    default = SuiteConfig()
    steps = (config.vae_pretrain_steps, config.vae_adapt_steps)
    if ((config.vae, config.prior, config.adapt, steps) ==
            (default.vae, default.prior, default.adapt,
             (default.vae_pretrain_steps, default.vae_adapt_steps))):
        return folder / "align"
    settings = json.dumps([asdict(config.prior), asdict(config.adapt)], sort_keys=True)
    # appended only when they differ, so the older variants keep their folders
    if config.vae != default.vae:
        settings += json.dumps(asdict(config.vae), sort_keys=True)
    if steps != (default.vae_pretrain_steps, default.vae_adapt_steps):
        settings += json.dumps(steps)  # stage 2 is trained against stage 1's prior
    return folder / f"align-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"


def align_config(config: SuiteConfig, pretrain: Path, target: Path, slots: SlotConfig,
                 steps: int, out: Path) -> AlignConfig:
    """The CPU preset's Align settings with this suite's chunks."""
    return AlignConfig(
        pretrain_data=data_config(config, pretrain, 0.05, SlotConfig()),
        target_data=data_config(config, target, 0.0, slots), model=config.vae,
        prior=config.prior, adapt=config.adapt, optim=OptimConfig(lr=1e-3, batch_size=64),
        train=TrainConfig(epochs=10**6, max_steps=steps, val_every=max(steps // 4, 1),
                          save_every=max(steps // 4, 1)), out=str(out))


def align_stage1(config: SuiteConfig, pretrain: Path, out: Path) -> None:
    """Stage 1 (VAE phi, prior q_phi, latent bank) on the pre-training demos."""
    import torch

    from ate.align.stages import run_pretrain

    torch.set_num_threads(max(config.workers, 1))  # as many threads as the jobs that follow
    cfg = align_config(config, pretrain, pretrain, SlotConfig(), config.vae_pretrain_steps,
                       out)
    run_pretrain(cfg, out, resume=interrupted(out))


def align_target(config: SuiteConfig, slots: SlotConfig, stage1: str, target: str, out: str
                 ) -> None:
    """Stage 2 (aligned to stage 1's prior) and the single-stage ablation on one subset."""
    import torch

    from ate.align.stages import run_adapt, run_single_stage

    torch.set_num_threads(1)
    root, target_path = Path(out), Path(target)
    cfg = align_config(config, Path(stage1), target_path, slots, config.vae_adapt_steps, root)
    # what the VAEs were trained from: a redrawn subset or another stage 1 retrains them
    trained_on = json.dumps({"subset": subset_print(target_path), "stage1": Path(stage1).name})
    for name, fn, extra in (("stage2", run_adapt, {"prior_from": stage1}),
                            ("single", run_single_stage, {})):
        done = root / name / "done"
        if not done.exists() or done.read_text() != trained_on:
            shutil.rmtree(root / name, ignore_errors=True)
            fn(replace(cfg, **extra), root / name)
            done.write_text(trained_on)
    record_coverage(Path(stage1), root, trained_on)


def record_coverage(stage1: Path, root: Path, trained_on: str) -> dict | None:
    """``root/coverage.json``: does stage 1 cover this subset's target (the alignment
    report's coverage; docs/align.md)? Computed once per trained stage 2, then read back."""
    from ate.align.report import target_coverage

    path = root / "coverage.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("trained_on") == trained_on:
            return saved["coverage"]
    cover = target_coverage(stage1, root / "stage2")
    path.write_text(json.dumps({"trained_on": trained_on, "coverage": cover}, indent=2))
    return cover


def read_coverage(root: Path) -> dict | None:
    """The coverage ``align_target`` recorded for one subset (None: none, or not comparable)."""
    path = root / "coverage.json"
    return json.loads(path.read_text())["coverage"] if path.is_file() else None
