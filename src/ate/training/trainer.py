"""A training run over chunk batches: data order, steps, validation, checkpoints, exact
resume, DDP. Subclasses say what a step computes (``terms``) and how the model is saved
(``write_model``); ``VAETrainer`` (align) and ``PolicyTrainer`` (finetune) are the two.

Randomness (reparameterisation, MMD references, dropout) is derived from
(seed, process rank, step) and the data order from (seed, epoch), so a resumed run needs
only the step counter and the optimiser and scheduler states to continue bit-for-bit.
Multi-process: launch with ``torchrun --nproc-per-node N``; gradients are averaged by
DistributedDataParallel (gloo on CPU, NCCL on CUDA); rank 0 writes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from ate.checkpoint import load_trainer_state, save_trainer_state, write_folder_atomically
from ate.config import diff_fields
from ate.data.chunks import ChunkDataset
from ate.data.prepare import PreparedChunks
from ate.errors import ATEError, ConfigError
from ate.training.config import OptimConfig, TrainConfig
from ate.training.sharding import mixture_counts, mixture_epoch, shard_batch

log = logging.getLogger(__name__)


class TrainingDiverged(ATEError):
    """A loss went NaN/inf; the last good checkpoint is left as it was."""


@dataclass
class TrainResult:
    """Where a stage ended: step reached, best validation loss, checkpoint folders."""

    step: int
    total_steps: int
    best_val: float
    last: Path
    best: Path

    @property
    def finished(self) -> bool:
        """True when the run reached its configured length (not stopped early)."""
        return self.step >= self.total_steps

    def checkpoints(self) -> str:
        """The checkpoint folders on disk, for a closing line (never one not written)."""
        found = [str(p) for p in (self.best, self.last) if (p / "model.safetensors").is_file()]
        return ("checkpoints in " + " and ".join(found)) if found else "no checkpoint written"


def choose_device(name: str) -> torch.device:
    """``auto`` = CUDA (this process's local rank) when available, else CPU.

    Raises:
        ConfigError: ``cuda`` without a visible CUDA device, or a local rank past the count.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        rank, count = int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.device_count()
        if count == 0:
            raise ConfigError(f"train.device is cuda but this torch ({torch.__version__}) sees "
                              "no CUDA device; pass --train.device cpu (with --resume too).")
        if rank >= count:
            raise ConfigError(
                f"this process's LOCAL_RANK is {rank} but {count} CUDA device(s) are visible: "
                f"launch at most {count} process(es) per node (torchrun --nproc-per-node "
                f"{count}), or train on the CPU (--train.device cpu).")
        return torch.device("cuda", rank)
    return torch.device(name)


def deterministic_cuda() -> None:
    """Deterministic CUDA kernels for this process (cuDNN's, cuBLAS's and torch's own): a
    resumed run then repeats an uninterrupted one bit for bit. Ops without a deterministic
    kernel warn instead of failing."""
    # cuBLAS reads this when its first handle is made; set before any matrix product
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    # the fused attention kernels' backward passes add in a varying order (torch warns, and
    # stays nondeterministic, under warn_only); the math kernel does not (what it costs in
    # speed is not measured: train.deterministic False keeps the fused ones)
    for enable in (torch.backends.cuda.enable_flash_sdp, torch.backends.cuda.enable_cudnn_sdp,
                   torch.backends.cuda.enable_mem_efficient_sdp):
        enable(False)
    torch.use_deterministic_algorithms(True, warn_only=True)


def distributed_setup(device: torch.device) -> tuple[int, int]:
    """(rank, world size); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def step_seed(seed: int, rank: int, step: int) -> int:
    """Seed of one process's randomness at one step."""
    return (seed * 1_000_003 + rank * 7_919 + step) % (2**63 - 1)


class Trainer:
    """Trains ``net`` on ``data.train``; writes ``out/last`` (resumable) and ``out/best``.

    Args:
        net: the model (moved to the chosen device); all its parameters are optimised.
        data: prepared chunks (normaliser and slots are saved with every checkpoint).
        optim: optimiser and schedule.
        train: run length, cadence, seed, device.
        out: the run's folder.
        stage: a label written to ``config.json`` and TensorBoard.
        run_config: the whole run config, saved in ``config.json`` (resume reads it back).
        shares: for a corpus (``data.train`` a ``MixedChunkDataset``), each member's share of
            every epoch (``mixture_epoch``); empty: each chunk once per epoch.
    """

    def __init__(self, net: torch.nn.Module, data: PreparedChunks, optim: OptimConfig,
                 train: TrainConfig, out: Path, stage: str, run_config: dict,
                 shares: Sequence[float] = ()) -> None:
        self.optim_cfg, self.train_cfg, self.run_config = optim, train, run_config
        self.out, self.stage, self.data = out, stage, data
        self.device = choose_device(train.device)
        if self.device.type == "cuda" and train.deterministic:
            deterministic_cuda()
        self.rank, self.world = distributed_setup(self.device)
        self.net = net.to(self.device)
        self.model: torch.nn.Module = (DistributedDataParallel(self.net) if self.world > 1
                                       else self.net)
        opt = optim
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=opt.lr,
                                           weight_decay=opt.weight_decay)
        self.sizes = [len(d) for d in getattr(data.train, "datasets", [data.train])]
        self.shares = tuple(shares)
        if self.shares and len(self.shares) != len(self.sizes):
            raise ConfigError(f"{len(self.shares)} data shares for {len(self.sizes)} datasets; "
                              "give one share per dataset (data first, then data_extra).")
        self.epoch_chunks = (sum(mixture_counts(self.sizes, self.shares)) if self.shares
                             else len(data.train))
        self._epoch: tuple[int, torch.Tensor] | None = None
        self.per_rank = self.epoch_chunks // self.world
        if self.per_rank < 1:
            raise ATEError(f"{len(data.train)} training chunks cannot be shared by "
                           f"{self.world} processes.")
        self.steps_per_epoch = math.ceil(self.per_rank / opt.batch_size)
        floor = opt.min_lr / opt.lr
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: max(opt.lr_decay ** (s // self.steps_per_epoch), floor))
        total = train.epochs * self.steps_per_epoch
        self.total_steps = min(total, train.max_steps or total)
        self.step, self.best_val = 0, math.inf
        self.history: list[dict] = []  # settings changed on resume, oldest first

    # -- resume -------------------------------------------------------------------------
    def load_state(self, folder: Path) -> None:
        """Continue from a ``last/`` folder: weights, optimiser, scheduler, counters."""
        state = load_trainer_state(folder)
        if state["train_chunks"] != len(self.data.train):
            raise ATEError(f"{folder}: the run trained on {state['train_chunks']} chunks, the "
                           f"data now gives {len(self.data.train)}. Resume needs the same data "
                           "and config.")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best_val = int(state["step"]), float(state["best_val"])
        if self.step > self.total_steps:
            raise ConfigError(f"{folder}: the run is at step {self.step}, past the "
                              f"{self.total_steps} steps asked for now (train.max_steps / "
                              "train.epochs); ask for more, or use its last/ as it is.")
        self.load_extra_state(state)
        if self.scheduler.base_lrs[0] != self.optim_cfg.lr:
            self._rebase_lr(self.optim_cfg.lr)
        self._record_changes(read_meta(folder))

    def _rebase_lr(self, lr: float) -> None:
        """Restart the schedule's base at ``lr`` (a resume with a new ``optim.lr``): the
        decay reached so far is kept, only its starting value changes."""
        factor = self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
        for group in self.optimizer.param_groups:
            group["initial_lr"], group["lr"] = lr, lr * factor
        self.scheduler.base_lrs = [lr] * len(self.optimizer.param_groups)
        self.scheduler._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def _record_changes(self, saved: dict) -> None:
        """Append what this resume changed (``field: [old, new]``) to the run's history."""
        self.history = list(saved.get("history", []))
        changed = {}
        for section, now in self.run_config.items():
            for name, (old, new) in diff_fields(saved.get(section, {}), now).items():
                changed[name] = [old, new]
        if changed:
            self.history.append({"step": self.step, "changed": changed})
            log.info("%s: resumed at step %d with %s", self.stage, self.step,
                     ", ".join(f"{k} {o!r} -> {n!r}" for k, (o, n) in changed.items()))

    # -- training -----------------------------------------------------------------------
    def batch_indices(self, step: int) -> list[int]:
        """Chunk indices of this process's batch at ``step`` (epoch order from the seed)."""
        return shard_batch(self.epoch_chunks, self.train_cfg.seed, step,
                           batch_size=self.optim_cfg.batch_size, rank=self.rank,
                           world=self.world,
                           epoch_chunks=self._mixture_epoch if self.shares else None)

    def _mixture_epoch(self, epoch: int) -> torch.Tensor:
        if self._epoch is None or self._epoch[0] != epoch:  # drawn once per epoch, not step
            self._epoch = (epoch, mixture_epoch(self.sizes, self.shares, self.train_cfg.seed,
                                                epoch))
        return self._epoch[1]

    def fit(self, until_step: int | None = None) -> TrainResult:
        """Train to the configured length (or only up to ``until_step``, as a kill would).

        Raises:
            TrainingDiverged: a non-finite loss; ``last/`` keeps the last good state.
        """
        stop = min(self.total_steps, until_step or self.total_steps)
        writer = SummaryWriter(str(self.out / "tensorboard")) if self.rank == 0 else None
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.stage,
                   disable=self.rank != 0 or None, dynamic_ncols=True)
        cfg = self.train_cfg
        self.model.train()
        while self.step < stop:
            terms = self.train_step()
            self.step += 1
            bar.update(1)
            if self.step % cfg.log_every == 0 or self.step == stop:
                scalars = {k: float(v) for k, v in terms.items()}
                bar.set_postfix({k: f"{v:.4g}" for k, v in scalars.items()})
                if writer:
                    for k, v in scalars.items():
                        writer.add_scalar(f"{self.stage}/train/{k}", v, self.step)
                    writer.add_scalar(f"{self.stage}/lr", self.scheduler.get_last_lr()[0],
                                      self.step)
            if self.step % cfg.val_every == 0 or self.step == self.total_steps:
                self.validate(writer)
            if self.step % cfg.save_every == 0 or self.step in (stop, self.total_steps):
                self.save(self.out / "last", with_state=True)
        bar.close()
        if writer:
            writer.close()
        if self.data.val is None and self.rank == 0 and self.step == self.total_steps:
            self.save(self.out / "best", with_state=False)  # no val split: best = last
        self._barrier()
        return TrainResult(self.step, self.total_steps, self.best_val, self.out / "last",
                           self.out / "best")

    def train_step(self) -> dict[str, torch.Tensor]:
        batch = self._to_device(self.data.train.__getitems__(self.batch_indices(self.step)))
        seed = step_seed(self.train_cfg.seed, self.rank, self.step)
        torch.manual_seed(seed)  # dropout, and samplers without a generator argument
        gen = torch.Generator(self.device).manual_seed(seed)
        with self._autocast():
            terms = self.terms(batch, gen, training=True)
        self._check_finite(terms)
        self.optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if self.optim_cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.optim_cfg.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.after_step()
        return {k: v.detach() for k, v in terms.items()}

    def terms(self, batch: dict[str, torch.Tensor], generator: torch.Generator,
              training: bool) -> dict[str, torch.Tensor]:
        """Loss terms of one batch (``loss`` is the one optimised); deterministic when not
        ``training``."""
        raise NotImplementedError

    def write_model(self, folder: Path, meta: dict) -> None:
        """Write the model's own files (config.json with ``meta``, weights, normalisers)."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after every optimiser step (e.g. to update an EMA)."""

    def extra_state(self) -> dict:
        """More resumable state for ``trainer_state.pt`` (tensors and numbers only)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what ``extra_state`` saved."""

    @torch.no_grad()
    def evaluate(self, dataset: ChunkDataset, max_batches: int) -> dict[str, float]:
        """Mean loss terms over the first ``max_batches`` batches, seeded (deterministic)."""
        self.net.eval()
        sums: dict[str, float] = {}
        count = 0
        size = self.optim_cfg.batch_size
        for start in range(0, min(len(dataset), max_batches * size), size):
            idx = list(range(start, min(start + size, len(dataset))))
            batch = self._to_device(dataset.__getitems__(idx))
            gen = torch.Generator(self.device).manual_seed(self.train_cfg.seed + start)
            torch.manual_seed(self.train_cfg.seed + start)
            for k, v in self.terms(batch, gen, training=False).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
            count += len(idx)
        self.net.train()
        return {k: v / count for k, v in sums.items()}

    def validate(self, writer: SummaryWriter | None) -> None:
        if self.data.val is None or self.rank != 0:
            return
        metrics = self.evaluate(self.data.val, self.train_cfg.val_batches)
        if writer:
            for k, v in metrics.items():
                writer.add_scalar(f"{self.stage}/val/{k}", v, self.step)
        if metrics["loss"] < self.best_val:
            self.best_val = metrics["loss"]
            self.save(self.out / "best", with_state=False, metrics=metrics)

    # -- checkpoints ----------------------------------------------------------------------
    def save(self, folder: Path, with_state: bool, metrics: dict[str, float] | None = None
             ) -> None:
        """Write a checkpoint folder atomically (rank 0 only)."""
        if self.rank != 0:
            return
        meta = {"stage": self.stage, "step": self.step, **self.run_config,
                "slots": {"indices": list(self.data.slots.indices),
                          "size": self.data.slots.size},
                "chunk_length": self.data.train.chunk_length,
                "val_metrics": metrics or {}}
        if self.history:
            meta["history"] = self.history

        def write(tmp: Path) -> None:
            self.write_model(tmp, meta)
            if with_state:
                save_trainer_state(tmp, {
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "step": self.step, "best_val": self.best_val,
                    "train_chunks": len(self.data.train), **self.extra_state()})

        write_folder_atomically(folder, write)

    # -- helpers --------------------------------------------------------------------------
    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def _autocast(self) -> torch.autocast:
        use = self.train_cfg.amp and self.device.type == "cuda"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use)

    def _check_finite(self, terms: dict[str, torch.Tensor]) -> None:
        ok = torch.tensor(float(torch.isfinite(terms["loss"]).all()), device=self.device)
        if self.world > 1:  # every process must stop together, or the others hang in backward
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        if ok.item() < 1:
            bad = {k: float(v.detach()) for k, v in terms.items()}
            raise TrainingDiverged(f"{self.stage}: loss became non-finite at step "
                                   f"{self.step + 1} ({bad}). {self._after_divergence()}")

    def _after_divergence(self) -> str:
        """What is left on disk and what a user can change about it (only settings that
        ``--resume`` applies, or a fresh run)."""
        lr = f"--optim.lr {self.optim_cfg.lr / 10:g}"
        last = self.out / "last"
        if (last / "trainer_state.pt").is_file():
            step = read_meta(last).get("step", "?")
            return (f"{last} holds the last good checkpoint (step {step}): continue from it "
                    f"with a lower learning rate or a gradient clip (--resume {self.out} {lr} "
                    "--optim.grad-clip 1.0), or check the data with `ate data inspect`.")
        return (f"No checkpoint was written (the first is saved at step "
                f"{self.train_cfg.save_every}); start again in a new --out with a lower "
                f"learning rate or a gradient clip ({lr} --optim.grad-clip 1.0), or check the "
                "data with `ate data inspect`.")

    def _barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


def read_meta(folder: Path) -> dict:
    """A checkpoint's ``config.json`` as a dict (empty when it is missing or unreadable:
    callers use it for history and messages, never for the weights)."""
    try:
        data = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def finish_stage(folders: list[Path], extend: Callable[[Path], None]) -> None:
    """Add files to finished checkpoint folders (e.g. the prior), each swap atomic."""
    for folder in folders:
        if folder.exists():
            write_folder_atomically(folder, lambda tmp, src=folder: _copy_then(src, tmp, extend))


def _copy_then(src: Path, tmp: Path, extend: Callable[[Path], None]) -> None:
    shutil.copytree(src, tmp)
    extend(tmp)
