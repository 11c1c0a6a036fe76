"""Which chunks each process trains on: one seeded permutation per epoch, dealt out to the
processes so that their shares are disjoint and together cover the epoch; for a corpus mixed
in set proportions (rehearsal), which chunks make up each epoch."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def epoch_order(chunks: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's permutation of chunk indices (the same in every process), (chunks,)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(chunks, generator=gen)


def mixture_counts(sizes: Sequence[int], shares: Sequence[float]) -> list[int]:
    """Chunks per epoch of each member (sizes (M,), shares (M,) > 0, any scale): the first
    member's every chunk, each other's ``round(share_m / share_0 * size_0)`` (at least 1)."""
    return [sizes[0]] + [max(1, round(p / shares[0] * sizes[0])) for p in shares[1:]]


def mixture_epoch(sizes: Sequence[int], shares: Sequence[float], seed: int, epoch: int
                  ) -> torch.Tensor:
    """Corpus indices (into the members concatenated in order) of one epoch in which member
    m makes up ``shares[m]`` of the chunks (``mixture_counts``), member by member, unshuffled.

    A member's chunks are taken in turn from a stream of seeded permutations of it, one per
    pass, so a member larger than its share is seen whole before any chunk repeats, and a
    smaller one is repeated evenly. Depends only on its arguments (exact resume, every
    process alike).
    """
    parts, offset = [], 0
    for m, (size, count) in enumerate(zip(sizes, mixture_counts(sizes, shares), strict=True)):
        start = epoch * count
        passes = range(start // size, (start + count - 1) // size + 1)
        stream = torch.cat([torch.randperm(size, generator=torch.Generator().manual_seed(
            (seed * 1_000_003 + m) * 1_000_003 + k)) for k in passes])
        first = start - passes[0] * size
        parts.append(stream[first:first + count] + offset)
        offset += size
    return torch.cat(parts)


def shard_batch(chunks: int, seed: int, step: int, *, batch_size: int, rank: int = 0,
                world: int = 1, epoch_chunks: Callable[[int], torch.Tensor] | None = None
                ) -> list[int]:
    """Chunk indices of process ``rank``'s batch at ``step``.

    Each process takes every ``world``-th chunk of the epoch's order, starting at its rank,
    cut to the same share size (``chunks // world``, dropping at most ``world - 1`` chunks)
    so that all processes run the same number of steps; its batches are consecutive slices
    of that share, the last one possibly shorter. With ``world`` processes at batch B the
    union of the step's batches is the batch of one process at ``world * B``.

    ``epoch_chunks``: epoch -> the (chunks,) corpus indices that make up that epoch (a
    ``mixture_epoch``); the permutation then orders those. Default: the indices themselves.
    """
    per_rank = chunks // world
    steps_per_epoch = -(-per_rank // batch_size)
    epoch, b = divmod(step, steps_per_epoch)
    order = epoch_order(chunks, seed, epoch)
    if epoch_chunks is not None:
        order = epoch_chunks(epoch)[order]
    mine = order[rank::world][:per_rank]
    return mine[b * batch_size:(b + 1) * batch_size].tolist()
