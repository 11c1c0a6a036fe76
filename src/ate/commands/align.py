"""``ate align pretrain | adapt | run | report``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ate.align.config import AlignConfig
from ate.align.report import build_report
from ate.align.stages import load_resume_config, run_adapt, run_pretrain, run_single_stage
from ate.align.trainer import TrainResult
from ate.checkpoint import has_last, resolve_last
from ate.commands.resume import merge_resume
from ate.folder_lock import exclusive


def _resumed(config: AlignConfig, resume: str | None) -> tuple[AlignConfig, Path | None]:
    """With --resume, the run's own saved config, with the command line's resume-safe
    changes (``RESUMABLE``) applied."""
    if not resume:
        return config, None
    saved, last = load_resume_config(Path(resume))
    return merge_resume(config, saved, Path(resume)), last


def _say(result: TrainResult, what: str) -> None:
    state = "finished" if result.finished else "stopped"
    best = f", best val loss {result.best_val:.4g}" if result.best_val < float("inf") else ""
    print(f"{what}: {state} at step {result.step}/{result.total_steps}{best}; "
          f"{result.checkpoints()}")


def align_pretrain(config: AlignConfig, resume: str | None = None) -> None:
    """Train the stage-1 VAE (phi) on pre-training chunks, then estimate the prior q_phi."""
    config, last = _resumed(config, resume)
    out = last.parent if last else Path(config.out)
    with exclusive(out, "run"):
        _say(run_pretrain(config, out, resume=last), "stage 1")


def align_adapt(config: AlignConfig, resume: str | None = None) -> None:
    """Train the stage-2 VAE (psi) on target chunks, pulled toward q_phi (--prior DIR)."""
    config, last = _resumed(config, resume)
    out = last.parent if last else Path(config.out)
    with exclusive(out, "run"):
        _say(run_adapt(config, out, resume=last), "stage 2")


def align_single(config: AlignConfig, resume: str | None = None) -> None:
    """Train a VAE on the target chunks alone: the single-stage ablation, no stage 1.

    N(0, I) prior; Steer reads the result like a stage-2 VAE (``--guidance-from DIR``)."""
    config, last = _resumed(config, resume)
    out = last.parent if last else Path(config.out)
    with exclusive(out, "run"):
        _say(run_single_stage(config, out, resume=last), "single stage")


def align_run(config: AlignConfig, resume: str | None = None, single_stage: bool = False
              ) -> None:
    """Stage 1, stage 2 (and the single-stage ablation), then the alignment report."""
    root = Path(resume) if resume else Path(config.out)
    if resume:
        config = merge_resume(config, load_resume_config(root / "stage1")[0], root)
    config = replace(config, prior_from=str(root / "stage1"), out=str(root))
    stages = (("stage1", run_pretrain), ("stage2", run_adapt))
    if single_stage:
        stages += (("single", run_single_stage),)
    with exclusive(root, "run"):
        for name, run in stages:
            folder = root / name
            previous = resolve_last(folder) if resume and has_last(folder) else None
            _say(run(config, folder, resume=previous), name)
        report = build_report(root / "stage1", root / "stage2", root / "report",
                              single=root / "single" if single_stage else None)
    print_report(report)


def align_report(
    stage1: str,
    stage2: str,
    single_stage: str | None = None,
    data: str | None = None,
    out: str | None = None,
) -> None:
    """Write report.json and plots: do the target latents sit inside the prior's mode?

    Args:
        stage1: the stage-1 output folder (holds the prior).
        stage2: the stage-2 output folder.
        single_stage: a VAE trained on the target alone, for the paper's ablation.
        data: target dataset (default: the one stage 2 trained on).
        out: report folder (default: beside stage 2, in report/).
    """
    folder = Path(out) if out else Path(stage2).parent / "report"
    with exclusive(folder, "ate align report"):
        report = build_report(Path(stage1), Path(stage2), folder,
                              single=Path(single_stage) if single_stage else None,
                              target_path=data)
    print_report(report)


def print_report(report: dict[str, object]) -> None:
    """The report's headline numbers as a table, then its warnings."""
    console = Console()
    table = Table(title="alignment: target latents under the pre-training prior q_phi")
    for col in ("latents", "NLL / dim (nats)", "MMD to pre-training", "inside 95% region"):
        table.add_column(col, justify="right")
    rows = [*report["latents"].items(),
            *((f"control: {k}", m) for k, m in report.get("controls", {}).items())]
    for name, m in rows:
        table.add_row(name, f"{m['nll_per_dim']:.3f}", f"{m['mmd']:.2e}",
                      f"{m['inside_region']:.1%}")
    console.print(table)
    for name, r in report["reconstruction"].items():
        console.print(f"reconstruction MAE, {name}: {r['mae']:.4g} (data units)")
    cover = report.get("coverage")
    if cover:
        parts = [f"{k} {v:.3f}" for k, v in cover.items() if k != "ratio" and v is not None]
        ratio = "" if cover["ratio"] is None else f" (target / pre-training {cover['ratio']:.2f})"
        console.print("stage-1 (pre-training) VAE reconstruction RMS, normalised units: "
                      + ", ".join(parts) + ratio)
    for w in report["warnings"]:
        console.print(f"[bold yellow]warning:[/] {w}")
    console.print(f"report: {report['path']}; plots: {', '.join(report['plots'])}")


ALIASES = {
    "pretrain": {"--data": "--pretrain-data.path"},
    "adapt": {"--data": "--target-data.path", "--prior": "--prior-from"},
    "single": {"--data": "--target-data.path"},
    "run": {"--pretrain-data": "--pretrain-data.path", "--target-data": "--target-data.path"},
}
