"""One writer per output folder: a second run on the same ``--out`` (``ate align``,
``ate policy pretrain``, ``ate finetune``, ``ate bench``, ``ate demo``) stops with one line
naming the holder instead of interleaving its files with the first's."""

from __future__ import annotations

import fcntl
import logging
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ate.errors import ConfigError

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"


def _holder_line() -> str:
    """This process as the lock file records it: pid, then its command line."""
    argv = getattr(sys, "orig_argv", None) or sys.argv
    return f"{os.getpid()} {shlex.join(argv)[:300]}"


def _describe(line: str) -> str:
    pid, _, command = line.strip().partition(" ")
    return f"pid {pid or 'unknown'}" + (f": {command}" if command else "")


@contextmanager
def exclusive(folder: Path, what: str) -> Iterator[None]:
    """Hold ``folder/.lock`` for the duration of the block.

    The lock is an ``flock`` on the file, so the kernel releases it when the holder exits,
    killed or not: a killed run never blocks the folder, and rerunning resumes. The file
    names the holder (pid and command line) while it runs and is emptied on a clean exit,
    so a line left in it is the mark of a holder that was killed: it is logged and taken
    over. Under torchrun only rank 0 takes it, for the whole job.

    Raises:
        ConfigError: another process (or another open of the lock here) holds the folder,
            or the folder cannot be created or written.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        # a torchrun job writes one folder from all its processes: rank 0 holds it for them
        yield
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = (folder / LOCK_FILE).open("a+")
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write there ({exc.strerror or exc}); choose "
                          "another --out.") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = _describe(handle.read())
        handle.close()
        raise ConfigError(f"{folder}: another {what} is writing there ({holder}); wait "
                          "for it to finish or choose another --out (nothing was written)."
                          ) from None
    try:
        handle.seek(0)
        stale = handle.read().strip()
        if stale:
            log.warning("%s: the previous writer (%s) ended without releasing the folder "
                        "(killed?); taking it over", folder, _describe(stale))
        handle.seek(0)
        handle.truncate()
        handle.write(_holder_line())
        handle.flush()
        yield
    finally:
        # emptied before the unlock, so no one reads a finished holder as a killed one
        handle.seek(0)
        handle.truncate()
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
