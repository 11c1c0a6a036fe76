"""Typed dataclass configs from YAML, strictly: an unknown or mistyped key is an error.

The CLI (tyro) takes a loaded config as its default, so ``--config FILE`` then
``--field value`` overrides work for every command.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import tyro
import yaml

from ate.errors import ConfigError

T = TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from a nested dict, recursing into dataclass fields.

    Raises:
        ConfigError: unknown keys (the message lists the valid ones), wrong types, or a
            value the dataclass's own validation rejects.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; valid fields: {sorted(fields)}.")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}")
              for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_yaml(cls: type[T], path: str | Path) -> T:
    """Read a YAML file into dataclass ``cls`` (see ``from_dict``)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}).") from exc
    return from_dict(cls, data, str(path))


def to_dict(config: object) -> dict[str, Any]:
    """A dataclass config as plain, YAML/JSON-ready data (tuples become lists)."""
    return _plain(dataclasses.asdict(config))  # type: ignore[arg-type]


def save_yaml(config: object, path: str | Path) -> None:
    """Write ``config`` as YAML that ``load_yaml`` reads back to an equal object."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False))


def diff_fields(old: Any, new: Any, where: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted names (``optim.lr``) of the values that differ between two plain config
    dicts (``to_dict`` output), each with its (old, new) pair. A key only one side has is
    not a difference (a field added to the config since ``old`` was written)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: dict[str, tuple[Any, Any]] = {}
        for key in sorted(set(old) & set(new), key=str):
            out.update(diff_fields(old.get(key), new.get(key), f"{where}.{key}" if where
                                   else key))
        return out
    return {} if old == new else {where: (old, new)}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        errors = []
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}.")
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(hint))}.")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}.")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}.")
    return value


def parse_cli(cls: type[T], args: Sequence[str], prog: str) -> T:
    """Parse a config from the command line: ``--config FILE`` (YAML) sets the defaults and
    every other flag (``--data.chunk-length 32``) overrides one field.

    Raises:
        ConfigError: bad YAML or values, an unknown or missing flag (one line).
    """
    from ate.usage_errors import one_line_usage_errors

    rest, path = _pop_config_flag(list(args))
    default = load_yaml(cls, path) if path else cls()
    with one_line_usage_errors(prog):
        return tyro.cli(cls, default=default, args=rest, prog=prog)


def _pop_config_flag(args: list[str]) -> tuple[list[str], str | None]:
    for i, arg in enumerate(args):
        if arg == "--config":
            if i + 1 >= len(args):
                raise ConfigError("--config needs a YAML file path.")
            return args[:i] + args[i + 2:], args[i + 1]
        if arg.startswith("--config="):
            return args[:i] + args[i + 1:], arg.split("=", 1)[1]
    return args, None
