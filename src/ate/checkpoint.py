"""Checkpoint folders, written atomically: build in a temporary sibling, then rename.

A folder holds ``config.json`` + ``model.safetensors`` (+ ``normalizer.json``,
``prior.safetensors``, ...), and for resumable ones ``trainer_state.pt`` (optimiser and
scheduler state, step), loaded with ``weights_only=True``: no pickle is executed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ate.errors import ConfigError

DAMAGED = ("the file is damaged (truncated, or overwritten by something else): use an intact "
           "checkpoint (the run's best/ or last/, or a copy), or train it again")

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
    _usual_permissions(tmp)
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


def has_last(run: Path) -> bool:
    """Whether ``run`` holds a ``last/`` checkpoint (or the ``last.old`` a cut swap left)."""
    return (run / "last").exists() or (run / "last.old").exists()


def resolve_last(resume: Path) -> Path:
    """A run folder (holding ``last/``) or a ``last/`` folder itself -> the ``last/`` folder,
    restored from ``last.old`` when a crash cut its swap short."""
    return recover_folder(resume / "last" if has_last(resume) else resume)


def save_trainer_state(folder: Path, state: dict[str, Any]) -> None:
    """Optimiser/scheduler state dicts and counters (tensors, numbers, strings only)."""
    torch.save(state, folder / TRAINER_STATE)


def load_trainer_state(folder: Path) -> dict[str, Any]:
    """Read ``trainer_state.pt`` with ``weights_only=True``."""
    path = recover_folder(folder) / TRAINER_STATE
    if not path.is_file():
        raise ConfigError(f"{folder}: no {TRAINER_STATE}; --resume needs a run's last/ folder "
                          "(or the run folder that contains it).")
    try:
        with warnings.catch_warnings():  # torch warns about odd pickles before it refuses them
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message advises weights_only=False, which would run pickled code
        raise ConfigError(f"{path}: not a readable trainer state ({type(exc).__name__}); "
                          f"{DAMAGED}.") from None
    if not isinstance(state, dict) or "step" not in state:
        raise ConfigError(f"{path}: not a trainer state written by ate; {DAMAGED}.")
    return state


def read_json(path: Path, what: str = "checkpoint") -> dict[str, Any]:
    """A checkpoint's JSON file (``config.json``, ...) as a dict.

    Raises:
        ConfigError: the file is missing, not JSON or not a mapping (one line, no
            traceback).
    """
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; is this a {what} folder?") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); {DAMAGED}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}; "
                          f"{DAMAGED}.")
    return data


def read_tensors(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (no pickle is ever involved).

    Raises:
        ConfigError: the file is missing or cannot be parsed.
    """
    if not Path(path).is_file():
        raise ConfigError(f"{path}: no such file.")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"{path}: not a readable safetensors file ({exc}); {DAMAGED}."
                          ) from None


def _usual_permissions(folder: Path) -> None:
    """Give every file the mode a plain ``open`` would (0644 under umask 022): safetensors
    writes its files 0600, which left the weights unreadable to the group and others that
    can read the JSON beside them."""
    mode = 0o666 & ~_umask()
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(mode)


def _umask() -> int:
    try:  # Linux reports it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
