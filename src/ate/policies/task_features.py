"""``TaskFeatures``: precomputed text features of task instructions, by task name.

Policies such as pi0 or SmolVLA condition on the instruction's language embedding, so an
unseen task still gets a meaningful input. This library downloads no language model: users
encode their instructions with whatever text encoder they trust (T5, SigLIP, a sentence
embedding...) and store the vectors here; a policy then conditions on a learned linear map
of them instead of a learned row per task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ate.errors import DataError


@dataclass
class TaskFeatures:
    """Text features (T, F) of T named tasks, row i for ``names[i]``."""

    names: list[str]
    features: torch.Tensor

    def __post_init__(self) -> None:
        if self.features.ndim != 2 or len(self.features) != len(self.names):
            raise DataError(f"task features must be (T, F) with one row per name; got "
                            f"{tuple(self.features.shape)} for {len(self.names)} names.")
        if len(set(self.names)) != len(self.names):
            raise DataError("task features name a task twice.")
        if not torch.isfinite(self.features).all():
            raise DataError("task features hold NaN or inf values.")

    @property
    def dim(self) -> int:
        """F, the size of one task's features."""
        return int(self.features.shape[1])

    def rows(self, names: Sequence[str], source: str = "the task features") -> torch.Tensor:
        """(len(names), F) float32 features of these tasks, in this order.

        Raises:
            DataError: a task without features (the message names them and the file).
        """
        index = {n: i for i, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise DataError(f"{source} has no features for tasks {missing}; add them (e.g. "
                            f"encode their instructions with your text encoder and "
                            f"TaskFeatures(...).save).")
        return self.features[[index[n] for n in names]].float()

    def save(self, path: str | Path) -> None:
        """A safetensors file: tensor ``features``, the names in its metadata."""
        save_file({"features": self.features.detach().float().contiguous()}, str(path),
                  metadata={"names": json.dumps(self.names)})

    @classmethod
    def load(cls, path: str | Path) -> TaskFeatures:
        """Read a file written by ``save``.

        Raises:
            DataError: a missing or unreadable file, or one without the names or features.
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such task-features file (--task-features).")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise DataError(f"{path}: not a safetensors file ({exc}).") from exc
        if "names" not in meta or "features" not in tensors:
            raise DataError(f"{path}: needs a 'features' tensor and 'names' metadata; write "
                            "it with ate.policies.TaskFeatures(names, features).save(path).")
        try:
            return cls(list(json.loads(meta["names"])), tensors["features"])
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc
