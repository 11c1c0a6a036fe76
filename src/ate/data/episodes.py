"""Episodes of one embodiment held as one contiguous action array.

Actions are small next to images (a million 14-d steps are 56 MB in float32), so every
reader loads them eagerly into one array plus episode boundaries, the layout of Diffusion
Policy's replay buffer. Chunk windows are then views, and batches one fancy-index away.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from ate.errors import DataError

log = logging.getLogger(__name__)

NonFinitePolicy = Literal["error", "drop", "keep"]


class RawEpisode(NamedTuple):
    """One episode as a format reader found it, before validation.

    name: where it came from, e.g. ``"train/episode_3.hdf5"`` or ``"file-000.parquet#7"``.
    actions: array of shape (n, D) (or (n,) for D = 1), any numeric dtype.
    split: ``"train"`` / ``"val"`` when the dataset's layout says so, else None.
    observations: optional (n, S) per-step observation vectors (e.g. robot state).
    task: optional task name of the episode.
    """

    name: str
    actions: np.ndarray
    split: str | None = None
    observations: np.ndarray | None = None
    task: str | None = None


@dataclass
class Episodes:
    """Action episodes of one embodiment.

    Attributes:
        actions: (N, D) float32, all episodes concatenated in order.
        ends: (E,) int64, exclusive end of each episode in ``actions`` (strictly increasing).
        names: E strings naming each episode's file / index, used in error messages.
        splits: E entries of ``"train"``, ``"val"`` or None (no split in the layout).
        source: the path the episodes were read from.
        format: the detected format name (see ``ate.data.formats``).
        action_key: the key / column the actions were read from.
        observations: (N, S) float32 aligned step for step with ``actions``, or None.
        tasks: E task names (None where unknown), or None when no episode has one.
    """

    actions: np.ndarray
    ends: np.ndarray
    names: list[str]
    splits: list[str | None]
    source: Path = Path(".")
    format: str = "memory"
    action_key: str = "action"
    nonfinite_dropped: int = field(default=0)
    observations: np.ndarray | None = None
    tasks: list[str | None] | None = None

    def __post_init__(self) -> None:
        self.actions = np.ascontiguousarray(self.actions, dtype=np.float32)
        self.ends = np.asarray(self.ends, dtype=np.int64)
        if self.actions.ndim != 2:
            raise DataError(f"{self.source}: actions must be 2-D (steps, dims), got shape "
                            f"{self.actions.shape}")
        n = len(self.ends)
        if len(self.names) != n or len(self.splits) != n:
            raise DataError(f"{self.source}: {n} episode ends but {len(self.names)} names and "
                            f"{len(self.splits)} split labels")
        if n and (np.any(np.diff(self.ends) <= 0) or self.ends[0] <= 0
                  or self.ends[-1] != len(self.actions)):
            raise DataError(f"{self.source}: episode ends must be increasing, positive and end at "
                            f"the number of steps ({len(self.actions)}); got {self.ends[:5]}...")
        if self.observations is not None:
            self.observations = np.ascontiguousarray(self.observations, dtype=np.float32)
            if len(self.observations) != len(self.actions):
                raise DataError(f"{self.source}: {len(self.observations)} observations for "
                                f"{len(self.actions)} actions; they must align step for step.")
        if self.tasks is not None and len(self.tasks) != n:
            raise DataError(f"{self.source}: {len(self.tasks)} task labels for {n} episodes.")

    @classmethod
    def from_raw(
        cls,
        raw: Sequence[RawEpisode],
        *,
        source: Path | str = ".",
        format: str = "memory",
        action_key: str = "action",
        nonfinite: NonFinitePolicy = "error",
    ) -> Episodes:
        """Validate a reader's episodes and pack them.

        Args:
            raw: episodes with actions of shape (n_i, D); D must agree across episodes.
            source, format, action_key: provenance, kept for messages and summaries.
            nonfinite: ``"error"`` raises on NaN/inf naming the episode, ``"drop"`` skips
                such episodes (their count is kept in ``nonfinite_dropped``), ``"keep"``
                keeps them (for inspection only).

        Raises:
            DataError: empty dataset, non-numeric or ragged arrays, mismatched D, NaN/inf.
        """
        source = Path(source)
        if not raw:
            raise DataError(f"{source}: no episodes found (format {format}, key '{action_key}').")
        arrays: list[np.ndarray] = []
        observations: list[np.ndarray] = []
        kept: list[RawEpisode] = []
        dropped = 0
        dim: int | None = None
        first_name = ""
        with_obs = raw[0].observations is not None
        for ep in raw:
            a = _as_action_array(ep.actions, ep.name, action_key)
            obs = _observations(ep, len(a), with_obs, raw[0].name)
            if dim is None:
                dim, first_name = a.shape[1], ep.name
            elif a.shape[1] != dim:
                raise DataError(
                    f"{ep.name}: field '{action_key}' has {a.shape[1]} action dims but "
                    f"{first_name} has {dim}. One dataset holds one embodiment: put robots of "
                    "different action dims in separate datasets and combine them with "
                    "EmbodimentSlots.")
            finite = np.isfinite(a).all(axis=1)
            if obs is not None:
                finite &= np.isfinite(obs).all(axis=1)
            if not finite.all():
                if nonfinite == "error":
                    raise DataError(
                        f"{ep.name}: actions or observations have NaN/inf in "
                        f"{int((~finite).sum())} of {len(a)} steps. Fix the recording, or skip "
                        "such episodes with --drop-nonfinite (nonfinite='drop').")
                if nonfinite == "drop":
                    dropped += 1
                    continue
            arrays.append(a)
            if obs is not None:
                observations.append(obs)
            kept.append(ep)
        if dropped:
            log.warning("%s: dropped %d of %d episodes with NaN/inf actions", source, dropped,
                        len(raw))
        if not kept:
            raise DataError(f"{source}: every episode has NaN/inf actions; nothing is left.")
        ends = np.cumsum([len(a) for a in arrays])
        return cls(
            actions=np.concatenate(arrays, axis=0),
            ends=ends,
            names=[ep.name for ep in kept],
            splits=[ep.split for ep in kept],
            source=source,
            format=format,
            action_key=action_key,
            nonfinite_dropped=dropped,
            observations=_concat_checked(observations, source) if with_obs else None,
            tasks=[ep.task for ep in kept] if any(ep.task for ep in kept) else None,
        )

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def dim(self) -> int:
        """Action dimension D."""
        return self.actions.shape[1]

    @property
    def obs_dim(self) -> int:
        """Observation dimension S (0 without observations)."""
        return 0 if self.observations is None else self.observations.shape[1]

    @property
    def task_names(self) -> list[str]:
        """The distinct task names, sorted (empty without tasks)."""
        return sorted({t for t in self.tasks or [] if t is not None})

    @property
    def num_steps(self) -> int:
        """Total number of action vectors N over all episodes."""
        return self.actions.shape[0]

    @property
    def starts(self) -> np.ndarray:
        """(E,) int64 start offset of each episode in ``actions``."""
        return np.concatenate([[0], self.ends[:-1]]).astype(np.int64)

    @property
    def lengths(self) -> np.ndarray:
        """(E,) int64 number of steps of each episode."""
        return np.diff(np.concatenate([[0], self.ends])).astype(np.int64)

    def episode(self, i: int) -> np.ndarray:
        """Actions of episode ``i``, shape (n_i, D), a view into ``actions``."""
        start = 0 if i == 0 else int(self.ends[i - 1])
        return self.actions[start:int(self.ends[i])]

    def select(self, indices: Sequence[int] | np.ndarray) -> Episodes:
        """A new ``Episodes`` holding the given episodes, in the given order."""
        indices = [int(i) for i in indices]
        if not indices:
            raise DataError(f"{self.source}: selecting zero episodes leaves nothing to train on.")
        arrays = [self.episode(i) for i in indices]
        obs = None
        if self.observations is not None:
            starts = self.starts
            obs = np.concatenate([self.observations[starts[i]:self.ends[i]] for i in indices])
        return Episodes(
            observations=obs,
            tasks=None if self.tasks is None else [self.tasks[i] for i in indices],
            actions=np.concatenate(arrays, axis=0),
            ends=np.cumsum([len(a) for a in arrays]),
            names=[self.names[i] for i in indices],
            splits=[self.splits[i] for i in indices],
            source=self.source,
            format=self.format,
            action_key=self.action_key,
        )


def _observations(ep: RawEpisode, steps: int, expected: bool, first: str
                  ) -> np.ndarray | None:
    if (ep.observations is not None) != expected:
        raise DataError(f"{ep.name}: has {'no ' if expected else ''}observations but {first} "
                        f"{'has' if expected else 'has none'}; every episode needs them, or none.")
    if ep.observations is None:
        return None
    obs = _as_action_array(ep.observations, ep.name, "observations")
    if len(obs) != steps:
        raise DataError(f"{ep.name}: {len(obs)} observations for {steps} actions; they must "
                        "align step for step.")
    return obs


def _concat_checked(parts: list[np.ndarray], source: Path) -> np.ndarray:
    widths = {p.shape[1] for p in parts}
    if len(widths) > 1:
        raise DataError(f"{source}: observations have different widths {sorted(widths)} across "
                        "episodes.")
    return np.concatenate(parts)


def _as_action_array(a: np.ndarray, name: str, key: str) -> np.ndarray:
    """Validate one per-step array (actions or observations) as (n, D) float32."""
    if a.dtype == object:
        raise DataError(f"{name}: field '{key}' is ragged (an object array of rows of "
                        "different lengths). Every step must have the same number of dims.")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise DataError(f"{name}: field '{key}' has dtype {a.dtype}, not numbers. "
                        "Point --action-key at the numeric action array.")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise DataError(f"{name}: field '{key}' has shape {a.shape}; expected (steps, dims). "
                        "Is this an image or a per-step matrix? Choose the action vector key.")
    if len(a) == 0:
        raise DataError(f"{name}: field '{key}' is empty (0 steps). Remove the empty episode.")
    return a.astype(np.float32, copy=False)
