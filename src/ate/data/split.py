"""Train/val split by episode, so no window of a val episode is seen in training."""

from __future__ import annotations

import logging

import numpy as np

from ate.data.episodes import Episodes
from ate.errors import DataError

log = logging.getLogger(__name__)


def split_episodes(
    episodes: Episodes, val_fraction: float = 0.1, seed: int = 0
) -> tuple[Episodes, Episodes | None]:
    """Split episodes into train and val.

    When the dataset's layout labels episodes (``train/`` and ``val/`` folders, robomimic
    masks, LeRobot ``splits``) and labels at least one as val, that split is used as is and
    ``val_fraction`` is ignored; unlabelled episodes count as train. Otherwise a seeded
    random ``val_fraction`` of the episodes (at least one, when there are two or more) is
    held out.

    Returns:
        ``(train, val)``; ``val`` is None when ``val_fraction`` is 0 and the layout has none.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    labels = np.array([s or "train" for s in episodes.splits])
    if (labels == "val").any():
        train, val = np.flatnonzero(labels != "val"), np.flatnonzero(labels == "val")
        if len(train) == 0:
            raise DataError(f"{episodes.source}: every episode is in the val split; nothing to "
                            "train on.")
        log.info("using the dataset's own split: %d train, %d val episodes", len(train),
                 len(val))
        return episodes.select(train), episodes.select(val)
    n_val = round(len(episodes) * val_fraction)
    if val_fraction > 0 and len(episodes) >= 2:
        n_val = min(max(n_val, 1), len(episodes) - 1)
    if n_val == 0:
        return episodes, None
    order = np.random.default_rng(seed).permutation(len(episodes))
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    return episodes.select(train), episodes.select(val)
