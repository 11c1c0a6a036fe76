"""Run independent simulator jobs (one per task) in worker processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

R = TypeVar("R")


def map_processes(job: Callable[..., R], calls: Sequence[tuple], workers: int) -> list[R]:
    """``[job(*args) for args in calls]``, spread over ``workers`` processes (in order).

    ``job`` must be a module-level function (it is pickled to the workers). Workers are
    spawned, not forked: a fork of a process that has run torch's thread pool can hang.
    """
    if workers <= 1 or len(calls) <= 1:
        return [job(*args) for args in calls]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(job, *zip(*calls, strict=True)))
