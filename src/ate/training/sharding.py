"""Which chunks each process trains on: one seeded permutation per epoch, dealt out to the
processes so that their shares are disjoint and together cover the epoch."""

from __future__ import annotations

import torch


def epoch_order(chunks: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's permutation of chunk indices (the same in every process), (chunks,)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(chunks, generator=gen)


def shard_batch(chunks: int, seed: int, step: int, *, batch_size: int, rank: int = 0,
                world: int = 1) -> list[int]:
    """Chunk indices of process ``rank``'s batch at ``step``.

    Each process takes every ``world``-th chunk of the epoch's order, starting at its rank,
    cut to the same share size (``chunks // world``, dropping at most ``world - 1`` chunks)
    so that all processes run the same number of steps; its batches are consecutive slices
    of that share, the last one possibly shorter. With ``world`` processes at batch B the
    union of the step's batches is the batch of one process at ``world * B``.
    """
    per_rank = chunks // world
    steps_per_epoch = -(-per_rank // batch_size)
    epoch, b = divmod(step, steps_per_epoch)
    mine = epoch_order(chunks, seed, epoch)[rank::world][:per_rank]
    return mine[b * batch_size:(b + 1) * batch_size].tolist()
