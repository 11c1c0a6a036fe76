"""tyro's usage errors (an unknown flag, a missing one, a value its own validation refused)
as one line: tyro draws each as a box of several lines, which is not how ``ate`` reports a
user's mistake."""

from __future__ import annotations

import functools
import io
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ate.errors import ConfigError

RULE = set("─-╰╯")


def box_message(text: str, prog: str) -> str | None:
    """The message of a tyro error box (box characters on a terminal, dashes elsewhere), as
    one line; None when ``text`` holds no box."""
    rows = [line.strip().strip("│|").strip() for line in text.strip().splitlines()]
    boxed = bool(rows) and rows[0].startswith(("╭", "+"))
    underlined = len(rows) > 1 and bool(rows[1]) and set(rows[1]) <= RULE  # no terminal
    if not (boxed or underlined):
        return None
    title = rows[0].strip("╭╮─-+ ")
    sections, current = [], []
    for row in rows[1:]:
        if row and set(row) <= RULE:
            sections.append(current)
            current = []
        elif row:
            current.append(row)
    sections.append(current)
    kept = [s for s in sections if s and not s[0].startswith("For full helptext")]
    if title == "Value error":  # the config's own validation: its message is the point
        text = " ".join(kept[0]) if kept else ""
        return (text.split(": ", 1)[1] if text.startswith("Error parsing ") else text) or None
    parts = []
    for section in kept:
        head, options = section[0], [r.split()[0] for r in section[1:] if r.startswith("-")]
        parts.append(f"{head} {', '.join(options)}" if options else " ".join(section))
    return f"{'; '.join(parts) or title} (`{prog} --help` lists every option)."


@contextmanager
def one_line_usage_errors(prog: str) -> Iterator[Callable[[Callable], Callable]]:
    """Within the block, tyro's usage errors become a ``ConfigError`` of one line. Yields
    ``parsed``: wrap a command with it so that its own output is not captured (tyro parses,
    then calls it)."""
    real, captured = sys.stderr, io.StringIO()

    def parsed(run: Callable) -> Callable:
        @functools.wraps(run)
        def call(*args: Any, **kwargs: Any) -> Any:
            sys.stderr = real  # parsing is over: the command's own output goes out
            return run(*args, **kwargs)
        return call

    sys.stderr = captured
    try:
        yield parsed
    except SystemExit as exc:
        parsing, text = sys.stderr is captured, captured.getvalue()
        sys.stderr = real
        message = (box_message(text, prog) if parsing and exc.code not in (0, None)
                   else None)
        if message is None:
            real.write(text if parsing else "")
            raise
        raise ConfigError(message) from None
    except BaseException:
        if sys.stderr is captured:
            sys.stderr = real
            real.write(captured.getvalue())
        raise
    else:
        if sys.stderr is captured:  # parsed without calling a command (a config)
            sys.stderr = real
            real.write(captured.getvalue())
    finally:
        sys.stderr = real
