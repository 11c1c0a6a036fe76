"""The two Align stages (and the single-stage ablation) from an ``AlignConfig``.

Stage 1 trains phi on the pre-training chunks, then estimates q_phi and keeps a bank of
pre-training latents beside the weights. Stage 2 trains psi on the target chunks with the
KL (and MMD) taken against q_phi. Each stage's folder holds ``last/`` (resumable) and
``best/`` (lowest validation loss).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file

from ate.align.config import AlignConfig
from ate.align.latents import encode_dataset
from ate.align.objectives import AdaptObjective, PretrainObjective
from ate.align.prior import LatentPrior
from ate.align.trainer import TrainResult, VAETrainer, choose_device, finish_stage
from ate.align.vae import ActionVAE, VAEConfig, load_vae_config
from ate.checkpoint import read_json, read_tensors, resolve_last
from ate.config import from_dict
from ate.data.prepare import PreparedChunks, prepare_chunks, prepare_corpus
from ate.errors import ConfigError

log = logging.getLogger(__name__)

PRIOR_FILE = "prior.safetensors"
BANK_FILE = "latent_bank.safetensors"


def build_vae(config: AlignConfig, data: PreparedChunks) -> ActionVAE:
    """An ``ActionVAE`` sized for ``data`` (its unified action size and chunk length),
    initialised from ``config.train.seed`` (the global RNG is left untouched)."""
    m = config.model
    h = data.train.chunk_length
    if m.max_chunk_length and h > m.max_chunk_length:
        raise ConfigError(f"data.chunk_length {h} exceeds model.max_chunk_length "
                          f"{m.max_chunk_length}; raise the model's or shorten the chunks.")
    vae_config = VAEConfig(**{**asdict(m), "max_chunk_length": m.max_chunk_length or h},
                           action_dim=data.slots.size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        return ActionVAE(vae_config)


def load_resume_config(resume: Path) -> tuple[AlignConfig, Path]:
    """The config a run was started with, and its ``last/`` folder."""
    last = resolve_last(resume)
    if not (last / "config.json").is_file():
        raise ConfigError(f"{resume}: no last/config.json to resume from. Pass the folder of "
                          "a run (it holds last/) or its last/ folder.")
    return saved_config(last), last


def _train(config: AlignConfig, data: PreparedChunks, vae: ActionVAE,
           objective: PretrainObjective, out: Path, stage: str,
           resume: Path | None, until_step: int | None) -> TrainResult:
    if resume is None and (out / "last").exists():
        raise ConfigError(f"{out} already holds a {stage} run. Continue it with --resume {out}, "
                          "or choose another --out (nothing was overwritten).")
    trainer = VAETrainer(vae, objective, data, config, out, stage)
    if resume is not None:
        resume = resolve_last(resume)
        saved = load_vae_config(resume)
        if saved != vae.config:
            raise ConfigError(
                f"{resume}: the checkpoint's model ({saved.action_dim} action slots, chunks up "
                f"to {saved.max_chunk_length}, latent {saved.latent_dim}) differs from the one "
                f"this data and config build ({vae.config.action_dim}, "
                f"{vae.config.max_chunk_length}, {vae.config.latent_dim}). Resume with the "
                "run's own data.")
        vae.load_state_dict(ActionVAE.from_pretrained(resume).state_dict())
        trainer.load_state(resume)
        log.info("%s: resumed at step %d of %d", stage, trainer.step, trainer.total_steps)
    return trainer.fit(until_step)


def run_pretrain(config: AlignConfig, out: Path, resume: Path | None = None,
                 until_step: int | None = None) -> TrainResult:
    """Stage 1 on ``config.pretrain_data`` (and ``pretrain_extra``: one corpus); on
    completion adds the prior and latent bank, both over the whole corpus."""
    data = prepare_corpus((config.pretrain_data, *config.pretrain_extra))
    result = _train(config, data, build_vae(config, data), PretrainObjective(config.loss), out,
                    "stage1", resume, until_step)
    if result.finished and _is_rank_zero():
        finish_stage([result.best, result.last],
                     lambda folder: _write_prior(config, data, folder))
    return result


def _is_rank_zero() -> bool:
    return not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0


def _write_prior(config: AlignConfig, data: PreparedChunks, folder: Path) -> None:
    vae = ActionVAE.from_pretrained(folder)
    noise = (0, 1, 2) if config.prior.noise else ()
    mu, logvar = encode_dataset(vae, data.train, noise_timesteps=noise, seed=config.train.seed)
    prior = LatentPrior.fit(config.prior.kind, mu, logvar, config.prior.components,
                            config.train.seed)
    prior.save(folder / PRIOR_FILE)
    # the bank holds clean-chunk latents whatever the prior's noise setting
    bank_mu, bank_logvar = encode_dataset(vae, data.train, seed=config.train.seed + 1,
                                          max_chunks=config.prior.bank_size)
    save_file({"mu": bank_mu.contiguous(), "logvar": bank_logvar.contiguous()},
              str(folder / BANK_FILE))


def load_bank(stage1: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The stage-1 latent bank: (mu, logvar), each (N, d)."""
    path = stage1 / BANK_FILE
    if not path.is_file():
        raise ConfigError(f"{stage1}: no {BANK_FILE}; is it a finished stage-1 checkpoint?")
    t = read_tensors(path)
    return t["mu"], t["logvar"]


def saved_config(checkpoint: Path) -> AlignConfig:
    """The ``AlignConfig`` a checkpoint was trained with (from its config.json)."""
    path = checkpoint / "config.json"
    data = read_json(path)
    if "align" not in data:
        raise ConfigError(f"{path}: no 'align' section; not written by `ate align`.")
    return from_dict(AlignConfig, data["align"], str(path))


def resolve_stage1(folder: Path) -> Path:
    """Accept a stage-1 run folder (with best/) or a checkpoint folder itself."""
    for candidate in (folder / "best", folder):
        if (candidate / PRIOR_FILE).is_file():
            return candidate
    raise ConfigError(f"{folder}: no {PRIOR_FILE} (nor in {folder / 'best'}). Point --prior at "
                      "a finished `ate align pretrain` output.")


def run_adapt(config: AlignConfig, out: Path, resume: Path | None = None,
              until_step: int | None = None) -> TrainResult:
    """Stage 2 on ``config.target_data``, regularised toward q_phi from ``config.prior_from``."""
    if not config.prior_from:
        raise ConfigError("stage 2 needs the stage-1 folder: pass --prior DIR.")
    stage1 = resolve_stage1(Path(config.prior_from))
    prior = LatentPrior.load(stage1 / PRIOR_FILE)
    if prior.latent_dim != config.model.latent_dim:
        raise ConfigError(f"{stage1 / PRIOR_FILE} was built for latent_dim {prior.latent_dim} "
                          f"but this config has model.latent_dim {config.model.latent_dim}. "
                          f"Set --model.latent-dim {prior.latent_dim}, or rebuild stage 1.")
    data = prepare_chunks(config.target_data)
    bank_mu, bank_logvar = load_bank(stage1)
    gen = torch.Generator().manual_seed(config.train.seed)
    bank = bank_mu + torch.exp(0.5 * bank_logvar) * torch.randn(bank_mu.shape, generator=gen)
    vae = build_vae(config, data)
    if config.adapt.init == "stage1" and resume is None:
        init_from_stage1(vae, stage1)
    device = choose_device(config.train.device)
    objective = AdaptObjective(config.loss, config.adapt, prior.to(device), bank.to(device))
    return _train(config, data, vae, objective, out, "stage2", resume, until_step)


def run_single_stage(config: AlignConfig, out: Path, resume: Path | None = None,
                     until_step: int | None = None) -> TrainResult:
    """The paper's ablation: a stage-1-style VAE (N(0, I) prior) on the target data alone."""
    data = prepare_chunks(config.target_data)
    return _train(config, data, build_vae(config, data), PretrainObjective(config.loss), out,
                  "single", resume, until_step)


def init_from_stage1(vae: ActionVAE, stage1: Path) -> None:
    """Copy stage-1 weights into ``vae`` where shapes allow: every transformer weight; the
    input/output layers only when D matches; positional tables over their common prefix."""
    source_cfg = load_vae_config(stage1)
    target_cfg = vae.config
    for name in ("latent_dim", "width", "num_layers", "num_heads", "ff_dim"):
        if getattr(source_cfg, name) != getattr(target_cfg, name):
            raise ConfigError(f"adapt.init=stage1 needs the stage-1 architecture, but {name} is "
                              f"{getattr(source_cfg, name)} there and {getattr(target_cfg, name)}"
                              " here. Use the same model section or adapt.init=random.")
    source = ActionVAE.from_pretrained(stage1).state_dict()
    target = vae.state_dict()
    fresh = []
    for key, value in target.items():
        src = source.get(key)
        if src is not None and src.shape == value.shape:
            target[key] = src
        elif src is not None and key in ("encoder_pos", "decoder_pos"):
            n = min(len(src), len(value))
            target[key][:n] = src[:n]
        else:
            fresh.append(key)
    vae.load_state_dict(target)
    log.info("stage 2 initialised from %s; new: %s", stage1, fresh or "nothing")
