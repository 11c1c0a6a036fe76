"""Chunk windows over episodes as a ``torch.utils.data.Dataset``.

Batches are gathered with one fancy index (``__getitems__``), so a DataLoader delivers
hundreds of thousands of chunks a second from memory with no worker processes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from ate.data.episodes import Episodes
from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.errors import DataError

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]


def window_starts(lengths: np.ndarray, chunk_length: int, pad_tail: bool) -> np.ndarray:
    """(M, 2) int64 rows of (episode, start step) for every window.

    Without padding an episode of n steps gives n - H + 1 windows (none when n < H); with
    ``pad_tail`` it gives n, the tail ones padded by repeating the last action.
    """
    counts = lengths if pad_tail else np.maximum(lengths - chunk_length + 1, 0)
    episode = np.repeat(np.arange(len(lengths)), counts)
    first = np.cumsum(counts) - counts
    start = np.arange(counts.sum()) - np.repeat(first, counts)
    return np.stack([episode, start], axis=1).astype(np.int64)


class ChunkDataset(Dataset[Batch]):
    """Windows of ``chunk_length`` consecutive actions from one embodiment's episodes.

    Each item is a dict:
        ``action``: (H, U) float32, normalised, placed in the unified slots (zeros elsewhere).
        ``action_mask``: (U,) bool, True at the real slots.
        ``step_mask``: (H,) bool, False at steps padded past the episode's end.
        ``episode``: () int64, index of the episode in ``episodes``.
        ``embodiment``: () int64, the ``embodiment_id`` given at construction.
        ``task``: () int64, the episode's task id in ``task_ids`` (-1 when unknown).
        ``index``: () int64, the window's own index (what per-window caches key on).
        ``obs`` (with ``obs_horizon`` > 0): (n_obs, S) float32, the observations of the
            window's first step and the n_obs - 1 before it (repeating the episode's first
            observation before its start), normalised by ``obs_normalizer``; S is
            ``obs_size`` when given (zeros after the episodes' own dims).

    Args:
        episodes: the episodes (one embodiment, D action dims).
        chunk_length: H, steps per window.
        normalizer: applied to the actions first (fit it on the train split); None = raw.
        slots: placement into U slots; default identity (U = D).
        pad_tail: also start windows in the last H - 1 steps, padding by repeating the
            last action (Diffusion Policy / LeRobot style).
        embodiment_id: label carried in every item, for mixed corpora.
        obs_horizon: observation steps per item (0 = no ``obs``).
        obs_normalizer: applied to the observations.
        obs_size: width to zero-pad the (normalised) observations to; None = their own.
        task_ids: task name -> id (default: ``episodes.task_names`` in order).

    Raises:
        DataError: H < 1, no episode has H steps (the message names the longest), or
            ``obs_horizon`` > 0 on episodes without observations, or observations wider
            than ``obs_size``.
    """

    def __init__(
        self,
        episodes: Episodes,
        chunk_length: int,
        *,
        normalizer: Normalizer | None = None,
        slots: EmbodimentSlots | None = None,
        pad_tail: bool = False,
        embodiment_id: int = 0,
        obs_horizon: int = 0,
        obs_normalizer: Normalizer | None = None,
        obs_size: int | None = None,
        task_ids: dict[str, int] | None = None,
    ) -> None:
        if chunk_length < 1:
            raise DataError(f"chunk_length must be at least 1, got {chunk_length}.")
        if obs_horizon and episodes.observations is None:
            raise DataError(f"{episodes.source}: obs_horizon={obs_horizon} but the episodes "
                            "have no observations; load them with obs_key (--obs-key).")
        self.episodes = episodes
        self.chunk_length = chunk_length
        self.normalizer = normalizer
        self.slots = slots or EmbodimentSlots.identity(episodes.dim)
        self.slots.check_dim(episodes.dim, str(episodes.source))
        self.pad_tail = pad_tail
        self.embodiment_id = embodiment_id
        lengths = episodes.lengths
        short = int((lengths < chunk_length).sum())
        if short == len(lengths) and not pad_tail:
            raise DataError(
                f"{episodes.source}: chunk length {chunk_length} is longer than every episode "
                f"(longest: {int(lengths.max())} steps). Use a chunk length of at most "
                f"{int(lengths.max())}, or pad_tail=True to pad short episodes.")
        if short and not pad_tail:
            log.warning("%s: skipping %d of %d episodes shorter than the chunk length %d",
                        episodes.source, short, len(lengths), chunk_length)
        self.skipped_episodes = 0 if pad_tail else short
        windows = window_starts(lengths, chunk_length, pad_tail)
        self._episode = torch.from_numpy(windows[:, 0])
        self._start = torch.from_numpy(episodes.starts[windows[:, 0]] + windows[:, 1])
        self._last = torch.from_numpy(episodes.ends[windows[:, 0]] - 1)
        actions = normalizer.transform(episodes.actions) if normalizer else episodes.actions
        self._actions = torch.from_numpy(np.ascontiguousarray(actions, dtype=np.float32))
        self._slot_index = torch.tensor(self.slots.indices)
        self._mask = torch.from_numpy(self.slots.mask)
        self._offsets = torch.arange(chunk_length)
        self.obs_horizon = obs_horizon
        self._first = torch.from_numpy(episodes.starts[windows[:, 0]])
        self.obs_width = 0
        if obs_horizon:
            obs = episodes.observations
            obs = obs_normalizer.transform(obs) if obs_normalizer else obs
            self._obs = _pad_columns(torch.from_numpy(np.ascontiguousarray(obs, np.float32)),
                                     obs_size, str(episodes.source))
            self.obs_width = self._obs.shape[1]
            self._obs_offsets = torch.arange(obs_horizon) - (obs_horizon - 1)
        self.set_task_ids(task_ids if task_ids is not None else {
            t: i for i, t in enumerate(episodes.task_names)})

    def set_task_ids(self, task_ids: dict[str, int]) -> None:
        """Number the tasks by ``task_ids`` (name -> id; unknown names get -1)."""
        self.task_ids = task_ids
        per_episode = [task_ids.get(t, -1) if t is not None else -1
                       for t in (self.episodes.tasks or [None] * len(self.episodes))]
        self._task = torch.tensor(per_episode, dtype=torch.long)[self._episode]

    def __len__(self) -> int:
        return len(self._start)

    def __getitem__(self, index: int) -> Batch:
        batch = self.__getitems__([index])
        return {k: v[0] for k, v in batch.items()}

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        """A whole batch in one gather: every tensor gains a leading batch dim B."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"window index out of range for {len(self)} windows")
        rows = self._start[idx, None] + self._offsets
        last = self._last[idx, None]
        step_mask = rows <= last
        chunk = self._actions[torch.minimum(rows, last)]
        action = chunk.new_zeros((*chunk.shape[:-1], self.slots.size))
        action[..., self._slot_index] = chunk
        b = len(idx)
        batch = {
            "action": action,
            "action_mask": self._mask.expand(b, -1),
            "step_mask": step_mask,
            "episode": self._episode[idx],
            "embodiment": torch.full((b,), self.embodiment_id, dtype=torch.long),
            "task": self._task[idx],
            "index": idx % len(self),
        }
        if self.obs_horizon:
            obs_rows = torch.maximum(self._start[idx, None] + self._obs_offsets,
                                     self._first[idx, None])
            batch["obs"] = self._obs[obs_rows]
        return batch


def _pad_columns(obs: torch.Tensor, size: int | None, source: str) -> torch.Tensor:
    """(N, S) observations with zero columns appended up to ``size``."""
    if size is None or size == obs.shape[1]:
        return obs
    if obs.shape[1] > size:
        raise DataError(f"{source}: {obs.shape[1]}-d observations do not fit data.obs_size="
                        f"{size}; set data.obs_size to at least {obs.shape[1]}.")
    return F.pad(obs, (0, size - obs.shape[1]))


class MixedChunkDataset(Dataset[Batch]):
    """Several embodiments' ``ChunkDataset``s as one corpus (same H and U, any D).

    Items are those of the member datasets, in order (``index`` renumbered across the
    corpus); ``__getitems__`` gathers a batch that spans members and keeps the requested
    order.
    """

    def __init__(self, datasets: Sequence[ChunkDataset]) -> None:
        if not datasets:
            raise DataError("MixedChunkDataset needs at least one dataset.")
        first = datasets[0]
        for d in datasets[1:]:
            if d.chunk_length != first.chunk_length or d.slots.size != first.slots.size:
                raise DataError(
                    f"{d.episodes.source}: chunk length {d.chunk_length} / unified size "
                    f"{d.slots.size} differ from {first.episodes.source}'s "
                    f"{first.chunk_length} / {first.slots.size}; a corpus needs one of each.")
        self.datasets = list(datasets)
        self._bounds = np.cumsum([len(d) for d in datasets])

    @property
    def chunk_length(self) -> int:
        """H, shared by every member."""
        return self.datasets[0].chunk_length

    @property
    def obs_horizon(self) -> int:
        """Observation steps per item (the first member's; a policy's corpus checks they
        agree)."""
        return self.datasets[0].obs_horizon

    @property
    def obs_width(self) -> int:
        """S of the ``obs`` items, padding included (the first member's)."""
        return self.datasets[0].obs_width

    def set_task_ids(self, task_ids: dict[str, int]) -> None:
        """Number every member's tasks by ``task_ids`` (name -> id; unknown names get -1)."""
        for d in self.datasets:
            d.set_task_ids(task_ids)

    def __len__(self) -> int:
        return int(self._bounds[-1])

    def __getitem__(self, index: int) -> Batch:
        batch = self.__getitems__([index])
        return {k: v[0] for k, v in batch.items()}

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        member = np.searchsorted(self._bounds, idx, side="right")
        parts, positions = [], []
        for m in np.unique(member):
            sel = np.flatnonzero(member == m)
            offset = 0 if m == 0 else self._bounds[m - 1]
            parts.append(self.datasets[m].__getitems__((idx[sel] - offset).tolist()))
            positions.append(sel)
        order = torch.from_numpy(np.argsort(np.concatenate(positions)))
        batch = {k: torch.cat([p[k] for p in parts])[order] for k in parts[0]}
        batch["index"] = torch.from_numpy(idx % len(self))  # the corpus's, not the member's
        return batch


def collate_chunks(batch: Batch | list[Batch]) -> Batch:
    """DataLoader ``collate_fn``: passes through a batch made by ``__getitems__``, stacks a
    list of single items otherwise."""
    if isinstance(batch, dict):
        return batch
    return {k: torch.stack([item[k] for item in batch]) for k in batch[0]}


def first_chunks(dataset: ChunkDataset | MixedChunkDataset, n: int) -> Batch:
    """The first ``min(n, len(dataset))`` windows as one batch (``action`` (n, H, U),
    ``step_mask`` (n, H), ...): a fixed, seed-free sample of a target's chunks, so whatever is
    computed from it (a hinge, a bank of latents) is the same on every run and resume."""
    return dataset.__getitems__(list(range(min(len(dataset), n))))


def spaced_chunks(dataset: ChunkDataset | MixedChunkDataset, n: int) -> Batch:
    """``min(n, len(dataset))`` windows evenly spaced over the dataset (every member of a
    corpus, every task), as one batch; seed-free."""
    idx = np.unique(np.linspace(0, len(dataset) - 1, min(n, len(dataset))).round().astype(int))
    return dataset.__getitems__(idx.tolist())
