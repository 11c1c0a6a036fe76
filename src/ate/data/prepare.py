"""From a ``DataConfig`` to train/val chunk datasets with a fitted normaliser."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ate.data.chunks import ChunkDataset, MixedChunkDataset
from ate.data.config import DataConfig
from ate.data.episodes import Episodes
from ate.data.load import load_episodes
from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.data.split import split_episodes
from ate.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class PreparedChunks:
    """Everything a trainer needs from the data: both splits, the normaliser, the slots.

    A corpus of several datasets (``prepare_corpus``) has ``MixedChunkDataset`` splits, the
    first member's normaliser, slots and episodes in the top-level fields, and every
    member's own ``PreparedChunks`` in ``members``.
    """

    train: ChunkDataset | MixedChunkDataset
    val: ChunkDataset | MixedChunkDataset | None
    normalizer: Normalizer
    slots: EmbodimentSlots
    episodes: Episodes
    obs_normalizer: Normalizer | None = None
    members: tuple[PreparedChunks, ...] = ()

    @property
    def task_names(self) -> list[str]:
        """The task names the ``task`` ids index: a corpus's are every member's, sorted
        (one id per name across robots)."""
        return sorted({t for m in self.members or (self,) for t in m.episodes.task_names})


def prepare_chunks(config: DataConfig, embodiment_id: int = 0) -> PreparedChunks:
    """Load, split by episode, fit the normaliser on train, and cut chunk windows.

    Raises:
        DataError: anything ``load_episodes`` raises, an empty path, or a chunk length
            longer than every train episode.
    """
    if not config.path:
        raise DataError("data.path is empty: pass --data PATH (a dataset folder or file).")
    episodes = load_episodes(config.path, action_key=config.action_key, obs_key=config.obs_key,
                             format=config.format,
                             nonfinite="drop" if config.drop_nonfinite else "error",
                             allow_missing=config.allow_missing)
    slots = config.slots.build(episodes.dim)
    train_eps, val_eps = split_episodes(episodes, config.val_fraction, config.split_seed)
    normalizer = Normalizer.fit(train_eps.actions, config.normalizer)
    obs_norm = (Normalizer.fit(train_eps.observations, config.normalizer)
                if train_eps.observations is not None else None)
    task_ids = {t: i for i, t in enumerate(episodes.task_names)}

    def chunks(eps: Episodes) -> ChunkDataset:
        return ChunkDataset(eps, config.chunk_length, normalizer=normalizer, slots=slots,
                            pad_tail=config.pad_tail, embodiment_id=embodiment_id,
                            obs_horizon=config.obs_horizon, obs_normalizer=obs_norm,
                            obs_size=config.obs_size, task_ids=task_ids)

    val = None
    if val_eps is not None:
        try:
            val = chunks(val_eps)
        except DataError as exc:
            log.warning("no validation chunks: %s", exc)
    return PreparedChunks(chunks(train_eps), val, normalizer, slots, episodes, obs_norm)


def prepare_corpus(configs: Sequence[DataConfig]) -> PreparedChunks:
    """Several datasets (robots of different D) as one training corpus.

    Each is read, split and normalised on its own (``prepare_chunks``, embodiment id = its
    position) and placed into the unified vector by its own slots; the splits are
    ``MixedChunkDataset``s. One config gives exactly ``prepare_chunks``'s result.

    Task ids number the names of every member together (``PreparedChunks.task_names``).

    Raises:
        DataError: a member's own errors, or members whose chunk length or unified size
            differ (the message names both files).
    """
    if not configs:
        raise DataError("a corpus needs at least one dataset.")
    if len(configs) == 1:
        return prepare_chunks(configs[0])
    members = tuple(prepare_chunks(c, embodiment_id=i) for i, c in enumerate(configs))
    first = members[0]
    vals = [m.val for m in members if m.val is not None]
    corpus = PreparedChunks(MixedChunkDataset([m.train for m in members]),
                            MixedChunkDataset(vals) if vals else None, first.normalizer,
                            first.slots, first.episodes, first.obs_normalizer, members)
    ids = {t: i for i, t in enumerate(corpus.task_names)}  # one id per task across robots
    for split in (corpus.train, corpus.val):
        if split is not None:
            split.set_task_ids(ids)
    return corpus
