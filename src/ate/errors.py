"""Errors a user can act on: the CLI prints their message without a traceback."""


class ATEError(Exception):
    """Base class for errors caused by input the user can fix.

    Messages name the file, the field and the fix.
    """


class DataError(ATEError, ValueError):
    """A dataset cannot be read or used as asked."""


class ConfigError(ATEError, ValueError):
    """A configuration value is invalid or inconsistent."""


class SimulatorError(ATEError, RuntimeError):
    """A simulator (or its renderer) cannot run on this machine as set up."""


def check_ranges(checks: tuple[tuple[str, object, bool, str], ...]) -> None:
    """Raise one ``ConfigError`` naming every ``(field, value, ok, allowed range)`` whose
    ``ok`` is false, e.g. ``train.max_steps = -5 (>= 1 or None)``."""
    bad = [f"{name} = {value!r} ({rule})" for name, value, ok, rule in checks if not ok]
    if bad:
        raise ConfigError("; ".join(bad) + ": out of range.")
