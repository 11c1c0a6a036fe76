"""``ate demo``: the main job on a built-in default, a small Meta-World suite.

It runs, for real: Meta-World's scripted experts record demos of ten ML45 training tasks and
of two held-out tasks; a flow policy and the stage-1 VAE are pre-trained on the first set;
the stage-2 VAE is aligned on 10 demos per held-out task (with the single-stage ablation and
the alignment report); five arms are fine-tuned from the same policy on the same demos
(direct, ATE paper sign, ATE tilted sign, single-stage VAE guidance, target-only from
scratch) and rolled out for 50 held-out episodes per task. The table comes last.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

from ate.bench.config import ML45_TRAIN, BenchConfig, SuiteConfig, quick
from ate.commands.bench import bench
from ate.errors import ConfigError
from ate.steer.guidance import GuidanceConfig


def demo_suite() -> SuiteConfig:
    """Ten pre-training tasks, two held-out tasks, N = 10, one seed, every arm.

    Steer runs with the library's defaults: the authors' released arithmetic at the paper's
    lambda 2. The pool is the 10 demos trained on (one seed: nothing to pair).
    """
    return SuiteConfig(
        pretrain_tasks=ML45_TRAIN[:10], target_tasks=("door-lock-v3", "door-unlock-v3"),
        pretrain_episodes=20, demos=(10,), pool=None, seeds=(0,), eval_episodes=50,
        pretrain_steps=1000, vae_pretrain_steps=600,
        guidance=GuidanceConfig())


def demo(out: str = "runs/demo", quick_run: bool = False) -> None:
    """Run a small Meta-World benchmark (about 10 minutes on 2 CPU cores): demos, Align,
    every fine-tuning arm, closed-loop evaluation; results.md, plots and the alignment
    report in --out. Rerunning resumes.

    Args:
        out: working folder.
        quick_run: a tiny smoke version (seconds; no conclusions to draw).
    """
    try:
        import metaworld  # noqa: F401
    except ImportError as exc:
        raise ConfigError("ate demo runs Meta-World: pip install -e \".[metaworld]\" "
                          "(metaworld 3.1.1, mujoco 3.3.0).") from exc
    from ate.bench.align import align_folder
    from ate.commands.align import align_report

    suite = quick(demo_suite()) if quick_run else demo_suite()
    run = bench(BenchConfig(suite="metaworld", metaworld=suite, out=out))[0]
    n, seed = suite.demos[0], suite.seeds[0]
    align = align_folder(run.config, Path(out) / "metaworld") / f"n{n}-s{seed}"
    align_report(str(run.stage1), str(align / "stage2"), single_stage=str(align / "single"),
                 out=str(Path(out) / "align-report"))
    text = (Path(out) / "results.md").read_text()  # the success tables again, last
    Console().print(Markdown(text[text.index("### Success rate"):text.index("### Per target")]))


def demo_command(out: str = "runs/demo", quick: bool = False) -> None:
    """Run a small Meta-World benchmark (about 10 minutes on 2 CPU cores): expert demos,
    Align, five fine-tuning arms, 50 closed-loop episodes per held-out task; results.md,
    plots and the alignment report in --out (rerunning resumes).

    Args:
        out: working folder.
        quick: a tiny smoke version of the same pipeline (seconds; no conclusions).
    """
    demo(out, quick_run=quick)



