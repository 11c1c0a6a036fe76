"""Optimiser and run settings shared by every trainer (align stages, policy training)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ate.errors import check_ranges


@dataclass
class OptimConfig:
    """AdamW with the release's exponential decay per epoch, floored at ``min_lr``.

    Attributes:
        lr: initial learning rate (1e-4).
        weight_decay: AdamW weight decay (1e-4).
        lr_decay: factor per epoch (0.95).
        min_lr: floor (1e-6).
        batch_size: chunks per step on each process (64).
        grad_clip: max gradient norm; None = no clipping (release).
    """

    lr: float = 1e-4
    weight_decay: float = 1e-4
    lr_decay: float = 0.95
    min_lr: float = 1e-6
    batch_size: int = 64
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        check_ranges((
            ("optim.lr", self.lr, self.lr > 0, "> 0"),
            ("optim.weight_decay", self.weight_decay, self.weight_decay >= 0, ">= 0"),
            ("optim.lr_decay", self.lr_decay, 0 < self.lr_decay <= 1, "in (0, 1]"),
            ("optim.min_lr", self.min_lr, self.min_lr >= 0, ">= 0"),
            ("optim.batch_size", self.batch_size, self.batch_size >= 1, ">= 1"),
            ("optim.grad_clip", self.grad_clip,
             self.grad_clip is None or self.grad_clip > 0, "> 0 or None")))


@dataclass
class TrainConfig:
    """Length, cadence and device of a training run.

    Attributes:
        epochs: passes over the training chunks.
        max_steps: stop earlier at this many optimiser steps (None = epochs decide).
        val_every: validate (and maybe save ``best/``) every this many steps.
        save_every: write ``last/`` every this many steps.
        log_every: TensorBoard / progress-bar cadence in steps.
        val_batches: at most this many validation batches.
        seed: all randomness derives from (seed, process rank, step), so resume is exact.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        amp: bfloat16 autocast, used on CUDA only.
        deterministic: on CUDA, deterministic kernels only (cuDNN's, cuBLAS's, torch's, and
            the math attention kernel instead of the fused ones), so that a resumed run
            repeats an uninterrupted one bit for bit; False lets CUDA pick kernels that sum
            in a varying order. No effect on the CPU, which is exact anyway.
    """

    epochs: int = 20
    max_steps: int | None = None
    val_every: int = 200
    save_every: int = 200
    log_every: int = 10
    val_batches: int = 20
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True
    deterministic: bool = True

    def __post_init__(self) -> None:
        # a run of zero steps would name checkpoint folders it never wrote
        check_ranges((
            ("train.epochs", self.epochs, self.epochs >= 1, ">= 1"),
            ("train.max_steps", self.max_steps,
             self.max_steps is None or self.max_steps >= 1, ">= 1 or None"),
            *((f"train.{name}", value, value >= 1, ">= 1") for name, value in (
                ("val_every", self.val_every), ("save_every", self.save_every),
                ("log_every", self.log_every), ("val_batches", self.val_batches)))))
