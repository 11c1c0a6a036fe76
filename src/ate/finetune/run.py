"""Pre-train a policy on demos, or fine-tune a pre-trained one on a target robot's demos,
directly or with the Steer guidance."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import torch
from diffusers.training_utils import EMAModel

from ate.checkpoint import read_json, resolve_checkpoint, resolve_last
from ate.config import from_dict, to_dict
from ate.data.chunks import ChunkDataset, first_chunks
from ate.data.prepare import PreparedChunks, prepare_corpus
from ate.errors import ConfigError, DataError
from ate.finetune.config import PolicyRunConfig
from ate.policies import DiffusionPolicy, FlowPolicy, GenerativePolicy, TaskFeatures
from ate.steer.guidance import LatentGuidance, recorded_guidance
from ate.steer.latent_loss import HINGE_CHUNKS, LatentLoss
from ate.steer.shift import ShiftReport, measure_shift
from ate.training.trainer import Trainer, TrainResult

log = logging.getLogger(__name__)


class PolicyTrainer(Trainer):
    """Trains a ``GenerativePolicy``; its loss is guided when ``guidance`` is given and
    carries a latent term when ``latent_loss`` is.

    Validation always uses the plain loss, so runs with and without either compare.
    """

    def __init__(self, policy: GenerativePolicy, guidance: LatentGuidance | None,
                 data: PreparedChunks, config: PolicyRunConfig, out: Path, stage: str,
                 latent_loss: LatentLoss | None = None) -> None:
        super().__init__(policy, data, config.optim, config.train, out, stage,
                         {"run": to_dict(config)}, config.data_shares)
        self.policy, self.guidance, self.latent_loss = policy, guidance, latent_loss
        for frozen in (guidance, latent_loss):
            if frozen is not None:
                frozen.to(self.device)
        self.ema = (EMAModel(policy.parameters(), decay=config.ema_max_decay,
                             use_ema_warmup=True, power=config.ema_power)
                    if config.ema else None)

    def after_step(self) -> None:
        if self.ema is not None:
            self.ema.step(self.policy.parameters())

    def extra_state(self) -> dict:
        state = {}
        if self.ema is not None:
            # the checkpoint's model.safetensors holds the average; the raw weights resume
            state.update(raw_model=self.policy.state_dict(), ema=self.ema.state_dict())
        if self.guidance is not None and self.guidance.config.auto_fraction is not None:
            state["guidance"] = self.guidance.calibration_state()
        return state

    def load_extra_state(self, state: dict) -> None:
        if self.ema is not None:
            self.policy.load_state_dict(state["raw_model"])
            self.ema.load_state_dict(state["ema"])
            # the checkpoint's tensors load on the CPU; EMAModel keeps them where they land
            self.ema.to(self.device)
        if self.guidance is not None and "guidance" in state:
            self.guidance.load_calibration_state(state["guidance"])

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """The EMA weights in place of the raw ones, for the duration of the block."""
        if self.ema is None:
            yield
            return
        params = list(self.policy.parameters())
        self.ema.store(params)
        self.ema.copy_to(params)
        try:
            yield
        finally:
            self.ema.restore(params)

    def evaluate(self, dataset: ChunkDataset, max_batches: int) -> dict[str, float]:
        with self.averaged():
            return super().evaluate(dataset, max_batches)

    def terms(self, batch: dict[str, torch.Tensor], generator: torch.Generator,
              training: bool) -> dict[str, torch.Tensor]:
        guidance = self.guidance if training else None
        latent = self.latent_loss if training else None
        policy = self.model if training else self.policy
        terms = {"loss": policy(batch, guidance, generator, latent)}
        if guidance is not None and guidance.last_stats is not None:
            stats = guidance.last_stats.summary()
            terms.update({k: torch.tensor(v) for k, v in stats.items()})
            terms["lambda"] = torch.tensor(float(guidance.lam))
        if latent is not None:
            terms.update({k: torch.tensor(v) for k, v in latent.last_stats.items()})
        return terms

    def write_model(self, folder: Path, meta: dict) -> None:
        with self.averaged():
            self.policy.save_pretrained(folder, {**meta, "ema": self.ema is not None})


def build_policy(config: PolicyRunConfig, data: PreparedChunks) -> GenerativePolicy:
    """A fresh policy sized for the data (seeded from ``config.train.seed``); with
    ``task_features`` it conditions on the tasks' text features."""
    names = data.task_names
    text = _task_text(config, names)
    policy_cfg = replace(config.policy, action_dim=data.slots.size,
                         chunk_length=data.train.chunk_length, obs_dim=data.train.obs_width,
                         obs_horizon=data.train.obs_horizon or config.policy.obs_horizon,
                         num_tasks=len(names),
                         task_text_dim=text.shape[1] if text is not None else 0)
    if not data.train.obs_horizon:
        policy_cfg = replace(policy_cfg, obs_dim=0)
    cls = DiffusionPolicy if policy_cfg.kind == "diffusion" else FlowPolicy
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        policy = cls(policy_cfg, data.slots, data.normalizer, data.obs_normalizer)
    if text is not None and names:
        policy.cond.task_text.copy_(text)
    policy.task_names = list(names)
    return policy


def _task_text(config: PolicyRunConfig, names: list[str]) -> torch.Tensor | None:
    if not config.task_features:
        return None
    return TaskFeatures.load(config.task_features).rows(names, config.task_features)


def adapt_pretrained(policy: GenerativePolicy, data: PreparedChunks, seed: int = 0,
                     task_features: str = "") -> GenerativePolicy:
    """Fit a pre-trained policy to the target data: same U, H and observations required;
    the target's normalisers replace the pre-training ones; new tasks get new rows
    (initialised from ``seed``, or for a policy on text features, the new tasks' rows of
    the ``task_features`` file)."""
    cfg = policy.config
    if data.slots.size != cfg.action_dim or data.train.chunk_length != cfg.chunk_length:
        raise ConfigError(
            f"the pre-trained policy predicts {cfg.chunk_length} x {cfg.action_dim} chunks but "
            f"the target data gives {data.train.chunk_length} x {data.slots.size}. Set "
            f"--data.chunk-length {cfg.chunk_length} and place the target's dims into "
            f"{cfg.action_dim} slots (--data.slots.layout pad --data.slots.size "
            f"{cfg.action_dim}).")
    if cfg.obs_dim and data.train.obs_width != cfg.obs_dim:
        own = data.episodes.obs_dim
        fix = (f"read them with --data.obs-key and --data.obs-horizon {cfg.obs_horizon}"
               if not data.train.obs_width else
               f"pad them with --data.obs-size {cfg.obs_dim}" if own < cfg.obs_dim
               else "pick another --data.obs-key")
        raise ConfigError(f"the pre-trained policy reads {cfg.obs_dim}-d observations, the "
                          f"target data gives {data.train.obs_width}-d ones ({own}-d of its "
                          f"own); {fix}.")
    policy.slots = data.slots
    policy.action_mask = torch.as_tensor(data.slots.mask)
    policy.normalizer, policy.obs_normalizer = data.normalizer, data.obs_normalizer
    new = [t for t in data.task_names if t not in policy.task_names]
    if new and not policy.cond.uses_tasks:
        log.warning("the pre-trained policy takes no task input: the target's task labels "
                    "%s are ignored", new)
        new = []
    if new:
        _add_tasks(policy, new, seed, task_features)
    # the data's task ids must follow the policy's table
    ids = {t: i for i, t in enumerate(policy.task_names)}
    for ds in (data.train, data.val):
        if ds is not None:
            ds.set_task_ids(ids)
    log.info("fine-tuning: action/observation normalisers refitted on the target's train split; "
             "real slots now %s", list(data.slots.indices))
    return policy


def _add_tasks(policy: GenerativePolicy, new: list[str], seed: int, task_features: str
               ) -> None:
    rows = len(policy.task_names) + len(new)
    if policy.config.task_text_dim:
        if not task_features:
            raise ConfigError(f"the pre-trained policy conditions on text features of its "
                              f"tasks; the target's new tasks {new} need theirs: pass "
                              "--task-features FILE (a TaskFeatures file).")
        features = TaskFeatures.load(task_features)
        if features.dim != policy.config.task_text_dim:
            raise ConfigError(f"{task_features}: {features.dim}-d features, but the policy was "
                              f"pre-trained on {policy.config.task_text_dim}-d ones; use the "
                              "same text encoder.")
        policy.cond.grow(rows, features.rows(new, task_features))
        how = f"text features from {task_features}"
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            policy.cond.grow(rows)
        how = "random init"
    policy.config = replace(policy.config, num_tasks=rows)
    policy.task_names += new
    log.info("fine-tuning: new task rows (%s) for %s", how, new)


def _setup(config: PolicyRunConfig
           ) -> tuple[PreparedChunks, GenerativePolicy, LatentGuidance | None, LatentLoss | None]:
    data = prepare_corpus((config.data, *config.data_extra))
    _check_observations(data)
    if config.init_from:
        policy = adapt_pretrained(GenerativePolicy.from_pretrained(
            resolve_checkpoint(Path(config.init_from))), data, config.train.seed,
            config.task_features)
    else:
        policy = build_policy(config, data)
    guidance = None
    if config.guidance_from:
        guidance = LatentGuidance.from_pretrained(
            config.guidance_from, slots=data.slots.indices, policy_normalizer=data.normalizer,
            **asdict(config.guidance))
    return data, policy, guidance, _latent_loss(config, data)


def _latent_loss(config: PolicyRunConfig, data: PreparedChunks) -> LatentLoss | None:
    """The latent term of ``config`` (its hinge set on the target's training chunks)."""
    if not config.latent_loss_from:
        return None
    latent = LatentLoss.from_pretrained(config.latent_loss_from, config.latent_loss,
                                        slots=list(data.slots.indices),
                                        policy_normalizer=data.normalizer)
    if config.latent_loss.kind == "manifold":
        batch = first_chunks(target_train(data), HINGE_CHUNKS)
        latent.calibrate_hinge(batch["action"], batch.get("step_mask"))
    return latent


def _check_observations(data: PreparedChunks) -> None:
    """One policy reads one observation size and history: a corpus's members must agree."""
    first = data.members[0] if data.members else data
    for m in data.members[1:]:
        if (m.train.obs_width, m.train.obs_horizon) != (first.train.obs_width,
                                                        first.train.obs_horizon):
            widest = max(x.train.obs_width for x in data.members)
            raise DataError(
                f"{m.episodes.source}: {m.train.obs_width}-d observations over "
                f"{m.train.obs_horizon} steps, but {first.episodes.source} has "
                f"{first.train.obs_width}-d over {first.train.obs_horizon}; a policy trained "
                "on both reads one observation width: set obs_horizon alike and, for robots "
                f"of different observation sizes, obs_size: {widest} in every data section "
                "(zero padding).")


def steer_shift(config: PolicyRunConfig) -> ShiftReport | None:
    """How far this run's Steer guidance displaces the regression target (``ShiftReport``),
    measured on its training chunks without training; None when it runs unguided or with
    lambda still to be calibrated (``auto_fraction``)."""
    data, policy, guidance, _ = _setup(config)
    if guidance is None or guidance.config.auto_fraction is not None:
        return None
    return measure_shift(policy, guidance, target_train(data),
                         batch_size=config.optim.batch_size, seed=config.train.seed)


def train_policy(config: PolicyRunConfig, out: Path, resume: Path | None = None,
                 until_step: int | None = None) -> TrainResult:
    """Pre-train (no ``init_from``) or fine-tune (``init_from``), guided when
    ``guidance_from`` is set. Writes ``out/last`` and ``out/best``, and for a guided run
    ``out/steer_shift.json`` (``steer_shift``)."""
    data, policy, guidance, latent = _setup(config)
    stage = "finetune" if config.init_from else "pretrain"
    if resume is None and (out / "last").exists():
        raise ConfigError(f"{out} already holds a run. Continue it with --resume {out}, or "
                          "choose another --out (nothing was overwritten).")
    if guidance is not None and guidance.config.auto_fraction is None and resume is None:
        report = measure_shift(policy, guidance, target_train(data),
                               batch_size=config.optim.batch_size, seed=config.train.seed)
        log.info("Steer displaces the implied clean actions by %.1f%% of the target actions' "
                 "RMS (lambda %.3g, %s, floor %.3g, clamp binding on %.0f%% of the elements)",
                 100 * report.ratio, report.lam, report.order.replace("_", " "), report.floor,
                 100 * report.clamped_fraction)
        if report.warning():
            log.warning(report.warning())
        out.mkdir(parents=True, exist_ok=True)
        (out / "steer_shift.json").write_text(json.dumps(report.to_dict(), indent=2))
    _cache_clean_latents(config, data, guidance, latent)
    trainer = PolicyTrainer(policy, guidance, data, config, out, stage, latent)
    if resume is not None:
        last = resolve_last(resume)
        saved = GenerativePolicy.from_pretrained(last)
        policy.load_state_dict(saved.state_dict())  # the raw weights, when an EMA ran, come
        trainer.load_state(last)                     # from trainer_state in load_state
        log.info("%s: resumed at step %d of %d", stage, trainer.step, trainer.total_steps)
    return trainer.fit(until_step)


def _cache_clean_latents(config: PolicyRunConfig, data: PreparedChunks,
                         guidance: LatentGuidance | None, latent: LatentLoss | None) -> None:
    """The demos' own latents, encoded once, not per step; Steer and a consistency term read
    one table when their encoder is the same folder seen the same way. A corpus's table
    holds its target's windows only: they lead the corpus, so their indices are the same."""
    if guidance is not None:
        guidance.cache_clean_latents(target_train(data))
    if latent is None:
        return
    same = (guidance is not None and config.latent_loss_from == config.guidance_from
            and config.latent_loss.length == guidance.config.length)
    if same and latent.config.kind == "consistency":
        latent.table = guidance.table
    else:
        latent.cache_clean_latents(target_train(data))


def target_train(data: PreparedChunks) -> ChunkDataset:
    """The target's own training windows (``data``'s), without a corpus's ``data_extra``:
    what Steer and the latent terms are measured and calibrated on."""
    return (data.members[0] if data.members else data).train


def load_run_config(resume: Path) -> tuple[PolicyRunConfig, Path]:
    """The config a policy run was started with, and its ``last/`` folder."""
    last = resolve_last(resume)
    path = last / "config.json"
    if not path.is_file():
        raise ConfigError(f"{resume}: no last/config.json; pass a policy run folder.")
    meta = read_json(path, "policy run")
    if not isinstance(meta.get("run"), dict):
        raise ConfigError(f"{path}: no 'run' section; not written by `ate policy pretrain` or "
                          "`ate finetune` (pass such a run's folder to --resume).")
    run = meta["run"]
    if "guidance" in run:
        run = {**run, "guidance": recorded_guidance(run["guidance"])}
    return from_dict(PolicyRunConfig, run, str(path)), last

