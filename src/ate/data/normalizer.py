"""Per-dimension action normalisers, fitted on the train split and saved as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ate.errors import DataError

NormalizerKind = Literal["minmax", "meanstd", "identity"]
Array = np.ndarray | torch.Tensor


@dataclass(frozen=True)
class Normalizer:
    """Affine per-dimension map ``y = (x - offset) / scale`` and its exact inverse.

    ``minmax`` maps [min, max] to [-1, 1]; ``meanstd`` to zero mean, unit std. A constant
    dimension (max == min, or std == 0) gets scale 1, so it maps to 0 (minmax) or to 0
    after centring, and back to its constant, with no division by zero.

    Attributes:
        kind: which statistics the map came from.
        offset: (D,) float64, in action units.
        scale: (D,) float64, in action units per normalised unit; never 0.
        stats: the fitted statistics (min, max, mean, std per dim), for reports.
    """

    kind: NormalizerKind
    offset: np.ndarray
    scale: np.ndarray
    stats: dict[str, list[float]]

    @classmethod
    def fit(cls, actions: np.ndarray, kind: NormalizerKind = "minmax") -> Normalizer:
        """Fit on (N, D) actions (the train split only)."""
        x = np.asarray(actions, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise DataError(f"Normalizer.fit needs (N, D) actions with N > 0, got {x.shape}.")
        lo, hi, mean, std = x.min(0), x.max(0), x.mean(0), x.std(0)
        stats = {"min": lo.tolist(), "max": hi.tolist(), "mean": mean.tolist(),
                 "std": std.tolist()}
        if kind == "minmax":
            half = (hi - lo) / 2
            offset, scale = lo + half, np.where(half > 0, half, 1.0)
        elif kind == "meanstd":
            offset, scale = mean, np.where(std > 0, std, 1.0)
        elif kind == "identity":
            offset, scale = np.zeros_like(mean), np.ones_like(mean)
        else:
            raise DataError(f"normalizer kind {kind!r} unknown; choose minmax, meanstd, identity.")
        return cls(kind, offset, scale, stats)

    @property
    def dim(self) -> int:
        """Action dimension D."""
        return len(self.offset)

    def transform(self, x: Array) -> Array:
        """Normalise (..., D) actions (numpy or torch; dtype kept)."""
        offset, scale = self._params_like(x)
        return (x - offset) / scale

    def inverse(self, y: Array) -> Array:
        """Map (..., D) normalised actions back to action units."""
        offset, scale = self._params_like(y)
        return y * scale + offset

    def _params_like(self, x: Array) -> tuple[Array, Array]:
        if x.shape[-1] != self.dim:
            raise DataError(f"normalizer was fitted on {self.dim} dims, got input with "
                            f"{x.shape[-1]}. Use the normalizer saved with this dataset.")
        if isinstance(x, torch.Tensor):
            return (torch.as_tensor(self.offset, dtype=x.dtype, device=x.device),
                    torch.as_tensor(self.scale, dtype=x.dtype, device=x.device))
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return self.offset.astype(dtype), self.scale.astype(dtype)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict; floats are written with full precision."""
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist(),
                "stats": self.stats}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Normalizer:
        """Inverse of ``to_dict``."""
        try:
            offset = np.asarray(d["offset"], dtype=np.float64)
            scale = np.asarray(d["scale"], dtype=np.float64)
            kind = d["kind"]
        except KeyError as exc:
            raise DataError(f"normalizer JSON lacks field {exc}; it needs kind, offset, scale."
                            ) from exc
        if offset.shape != scale.shape or offset.ndim != 1 or np.any(scale == 0):
            raise DataError("normalizer JSON: offset and scale must be equal-length lists and "
                            "scale must be non-zero.")
        return cls(kind, offset, scale, dict(d.get("stats", {})))  # type: ignore[arg-type]

    def save(self, path: str | Path) -> None:
        """Write ``normalizer.json`` (atomically: temp file then rename)."""
        path = Path(path)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Normalizer:
        """Read a file written by ``save``."""
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise DataError(f"{path}: no normalizer file.") from exc
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc}).") from exc
