"""Data-parallel sharding: each process's batches are its own, and together they are the
epoch."""

from __future__ import annotations

from itertools import chain

import pytest

from ate.training.sharding import shard_batch


@pytest.mark.parametrize("chunks,batch,world", [(103, 8, 2), (64, 16, 4), (50, 7, 3),
                                                (10, 4, 1)])
def test_ranks_get_disjoint_shares_that_cover_the_epoch(chunks, batch, world) -> None:
    per_rank = chunks // world
    steps = -(-per_rank // batch)
    for epoch in range(2):
        seen = [[i for s in range(epoch * steps, (epoch + 1) * steps)
                 for i in shard_batch(chunks, 7, s, batch_size=batch, rank=r, world=world)]
                for r in range(world)]
        for r, mine in enumerate(seen):
            assert len(mine) == len(set(mine)) == per_rank, r  # each chunk once per epoch
        union = set().union(*map(set, seen))
        assert len(union) == world * per_rank  # no chunk on two ranks
        assert chunks - len(union) < world  # at most world - 1 left out
    # one step of `world` processes at batch B = one step of one process at world * B
    step0 = [i for r in range(world) for i in shard_batch(chunks, 7, 0, batch_size=batch,
                                                          rank=r, world=world)]
    assert sorted(step0) == sorted(shard_batch(chunks, 7, 0, batch_size=world * batch))

def test_epochs_reshuffle_and_seeds_differ() -> None:
    a = [shard_batch(100, 0, s, batch_size=10) for s in range(20)]
    epochs = [sorted(chain.from_iterable(a[:10])), sorted(chain.from_iterable(a[10:]))]
    assert epochs[0] == list(range(100)) == epochs[1]
    assert a[:10] != a[10:]
    assert shard_batch(100, 1, 0, batch_size=10) != a[0]
