"""Data-parallel sharding: each process's batches are its own, and together they are the
epoch."""

from __future__ import annotations

from itertools import chain

import pytest
import torch

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


def test_a_mixture_epoch_holds_each_member_in_its_share() -> None:
    from collections import Counter

    from ate.training.sharding import mixture_counts, mixture_epoch

    sizes, shares = [30, 500, 7], [1.0, 1.0, 0.5]
    assert mixture_counts(sizes, shares) == [30, 30, 15]
    bounds = [0, 30, 530, 537]
    epochs = [mixture_epoch(sizes, shares, 3, e) for e in range(40)]
    assert torch.equal(epochs[5], mixture_epoch(sizes, shares, 3, 5))  # seeded, stateless
    for idx in epochs:
        member = torch.bucketize(idx, torch.tensor(bounds[1:]), right=True)
        assert torch.bincount(member, minlength=3).tolist() == [30, 30, 15]
        assert sorted(idx[member == 0].tolist()) == list(range(30))  # the target once each
    stream = torch.cat([e[30:60] for e in epochs]).tolist()  # the large member, in turn
    assert sorted(stream[:500]) == list(range(30, 530))  # whole before any repeat
    assert sorted(stream[500:1000]) == list(range(30, 530))  # then a fresh pass
    assert stream[:500] != stream[500:1000]
    small = Counter(torch.cat([e[60:] for e in epochs]).tolist())  # 600 draws of 7 chunks
    assert set(small) == set(range(530, 537)) and max(small.values()) - min(small.values()) \
        <= 1


def test_shards_of_a_mixture_cover_its_epoch() -> None:
    from ate.training.sharding import mixture_epoch

    sizes, shares = [20, 100], [3.0, 1.0]
    chunks = 20 + 7  # round(1 / 3 * 20)
    epoch_of = lambda e: mixture_epoch(sizes, shares, 0, e)  # noqa: E731
    for world in (1, 2):
        steps = -(-(chunks // world) // 4)
        got = [i for s in range(steps, 2 * steps) for r in range(world)
               for i in shard_batch(chunks, 0, s, batch_size=4, rank=r, world=world,
                                    epoch_chunks=epoch_of)]
        assert len(got) == world * (chunks // world)
        assert set(got) <= set(epoch_of(1).tolist())
        if world == 1:
            assert sorted(got) == sorted(epoch_of(1).tolist())
