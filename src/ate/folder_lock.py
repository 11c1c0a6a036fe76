"""One writer per output folder: a second ``ate bench`` (or ``ate demo``) on the same
``--out`` stops with one line instead of interleaving its files with the first's."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ate.errors import ConfigError


@contextmanager
def exclusive(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder/.lock`` for the duration of the block.

    The lock is an ``flock`` on the file, so the kernel releases it when the holder exits,
    killed or not: a killed run never leaves a stale lock behind, and rerunning resumes.

    Raises:
        ConfigError: another process (or another open of the lock here) holds the folder.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(f"{folder}: another {what} is writing there (pid {holder}); wait "
                          "for it to finish or choose another --out (nothing was written)."
                          ) from None
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
