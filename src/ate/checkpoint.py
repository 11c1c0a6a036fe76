"""Checkpoint folders, written atomically: build in a temporary sibling, then rename.

A folder holds ``config.json`` + ``model.safetensors`` (+ ``normalizer.json``,
``prior.safetensors``, ...), and for resumable ones ``trainer_state.pt`` (optimiser and
scheduler state, step), loaded with ``weights_only=True``: no pickle is executed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ate.errors import ConfigError

TRAINER_STATE = "trainer_state.pt"


def write_folder_atomically(folder: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` to fill a fresh temporary folder, then swap it in as ``folder``.

    A crash at any point leaves either the old folder or the new one (an interrupted swap
    leaves ``folder.old``, which ``recover_folder`` puts back).
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    old = folder.with_name(f"{folder.name}.old")
    write(tmp)
    _fsync_tree(tmp)
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def recover_folder(folder: Path) -> Path:
    """Return ``folder``, restoring it from ``folder.old`` if a swap was cut short."""
    old = folder.with_name(f"{folder.name}.old")
    if not folder.exists() and old.exists():
        old.rename(folder)
    return folder


def resolve_last(resume: Path) -> Path:
    """A run folder (holding ``last/``) or a ``last/`` folder itself -> the ``last/`` folder,
    restored from ``last.old`` when a crash cut its swap short."""
    run_folder = (resume / "last").exists() or (resume / "last.old").exists()
    return recover_folder(resume / "last" if run_folder else resume)


def save_trainer_state(folder: Path, state: dict[str, Any]) -> None:
    """Optimiser/scheduler state dicts and counters (tensors, numbers, strings only)."""
    torch.save(state, folder / TRAINER_STATE)


def load_trainer_state(folder: Path) -> dict[str, Any]:
    """Read ``trainer_state.pt`` with ``weights_only=True``."""
    path = recover_folder(folder) / TRAINER_STATE
    if not path.is_file():
        raise ConfigError(f"{folder}: no {TRAINER_STATE}; --resume needs a run's last/ folder "
                          "(or the run folder that contains it).")
    return torch.load(path, map_location="cpu", weights_only=True)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def resolve_checkpoint(folder: Path) -> Path:
    """A run folder (holding ``best/``) or a checkpoint folder itself -> the checkpoint."""
    for candidate in (folder / "best", folder):
        if (candidate / "model.safetensors").is_file():
            return candidate
    raise ConfigError(f"{folder}: no model.safetensors (nor in {folder / 'best'}); pass the "
                      "output folder of a training run, or a checkpoint folder.")
