"""``ate policy pretrain`` and ``ate finetune``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ate.commands.resume import merge_resume
from ate.errors import ConfigError
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import load_run_config, train_policy
from ate.folder_lock import exclusive
from ate.training.trainer import TrainResult


def _run(config: PolicyRunConfig, resume: str | None, what: str) -> TrainResult:
    last = None
    if resume:
        saved, last = load_run_config(Path(resume))
        config = merge_resume(config, saved, Path(resume))
    if config.guidance_from:  # from the run's own config when resuming
        what += " with guidance"
    if config.latent_loss_from:
        what += f" with a latent {config.latent_loss.kind} term"
    out = last.parent if last else Path(config.out)
    with exclusive(out, "run"):
        result = train_policy(config, out, resume=last)
    state = "finished" if result.finished else "stopped"
    print(f"{what}: {state} at step {result.step}/{result.total_steps}; best val loss "
          f"{result.best_val:.4g}; {result.checkpoints()}")
    return result


def policy_pretrain(config: PolicyRunConfig, resume: str | None = None) -> None:
    """Pre-train a diffusion or flow policy on demos (--policy.kind diffusion|flow)."""
    if config.init_from:
        print("note: --init-from is set, so this fine-tunes; use `ate finetune` for clarity")
    _run(config, resume, "policy pre-training")


def finetune(config: PolicyRunConfig, resume: str | None = None,
             rehearse: str | None = None) -> None:
    """Fine-tune a pre-trained policy (--policy DIR) on target demos; with --guidance DIR
    (a stage-2 `ate align` folder) the loss carries the Steer guidance, else it is direct
    fine-tuning; with --latent-loss-from DIR the loss also carries a latent term
    (--latent-loss.kind consistency|manifold, --latent-loss.beta); with --rehearse DIR it
    co-trains on the pre-training demos in DIR (read with --data's settings; half of every
    epoch unless --data-shares says otherwise), Steer and the term on the target's rows."""
    if rehearse:
        config = with_rehearsal(config, rehearse)
    if not config.init_from and not resume:
        print("note: no --policy given: training from scratch on the target demos")
    _run(config, resume, "fine-tuning")


def with_rehearsal(config: PolicyRunConfig, folder: str) -> PolicyRunConfig:
    """``config`` co-training on the demos in ``folder`` (``data``'s reading settings;
    ``data_shares`` 1 : 1 unless set)."""
    if config.data_extra:
        raise ConfigError("--rehearse and data_extra both name co-training data; list the "
                          "pre-training demos in one of them.")
    return replace(config, data_extra=(replace(config.data, path=folder),),
                   data_shares=config.data_shares or (1.0, 1.0))


ALIASES = {
    "pretrain": {"--data": "--data.path", "--policy": "--policy.kind", "--kind": "--policy.kind"},
    "finetune": {"--data": "--data.path", "--policy": "--init-from",
                 "--guidance": "--guidance-from", "--lam": "--guidance.lam",
                 "--clamp": "--guidance.clamp", "--sign": "--guidance.sign",
                 "--preset": "--guidance.preset", "--beta": "--latent-loss.beta"},
}
