"""The ``ate`` command: ``ate data | align | policy | finetune | eval | bench | demo``.

Each command is a typed function (tyro builds its flags and help from the signature and
docstring); this module only routes the first word and turns every error into one line on
stderr: an ``ATEError`` (or an ``OSError`` about a path) exits with code 2, anything else
is a bug, exits with 1 and leaves its traceback in a file named in that line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ate import __version__
from ate.errors import ATEError, ConfigError

# Nothing heavier is imported here: `ate --version` and `ate --help` answer at Python's
# start-up cost; the commands (torch, tyro, rich...) are imported when one runs.


@dataclass(frozen=True)
class ConfigCommand:
    """A command driven by a config dataclass: ``--config FILE`` plus field overrides.

    ``aliases`` rewrite short flags to config fields (``--data`` -> ``--pretrain-data.path``);
    ``options`` are flags outside the config, passed to ``run`` as keyword arguments
    (type ``str``: takes a value; ``bool``: a switch).
    """

    config: type
    run: Callable[..., None]
    aliases: dict[str, str] = field(default_factory=dict)
    options: dict[str, type] = field(default_factory=dict)

    def __call__(self, args: list[str], prog: str) -> None:
        rest, kwargs = [], {}
        it = iter(args)
        for arg in it:
            flag, eq, value = arg.partition("=")
            if flag in self.options:
                name = flag.lstrip("-").replace("-", "_")
                if self.options[flag] is bool:
                    kwargs[name] = True
                else:
                    kwargs[name] = value if eq else next(it, None)
                    if kwargs[name] is None:
                        raise ConfigError(f"{flag} needs a value.")
                continue
            if flag in self.aliases:
                arg = self.aliases[flag] + (eq + value)
            rest.append(arg)
        if rest and rest[0] in ("-h", "--help"):
            extra = ", ".join(f"{k}" + (" DIR" if t is str else "") for k, t in
                              self.options.items())
            short = ", ".join(f"{k} = {v}" for k, v in self.aliases.items())
            print(f"{(self.run.__doc__ or '').strip()}\n\nalso: --config FILE (YAML)"
                  + (f", {extra}" if extra else "") + (f"; {short}" if short else "") + "\n")
        from ate.config import parse_cli

        self.run(parse_cli(self.config, rest, prog), **kwargs)


Command = Callable[..., object] | ConfigCommand


def command_groups() -> dict[str, Command | dict[str, Command]]:
    """Every command, by its first (and second) word; importing them is the slow part."""
    from ate.align.config import AlignConfig
    from ate.bench.config import BenchConfig
    from ate.commands.align import (
        ALIASES,
        align_adapt,
        align_pretrain,
        align_report,
        align_run,
        align_single,
    )
    from ate.commands.bench import bench_command
    from ate.commands.data import (
        PrepareConfig,
        data_convert,
        data_generate,
        data_inspect,
        data_prepare,
        data_synth,
    )
    from ate.commands.demo import demo_command
    from ate.commands.evaluate import evaluate_policy
    from ate.commands.policy import ALIASES as POLICY_ALIASES
    from ate.commands.policy import finetune, policy_pretrain
    from ate.finetune.config import PolicyRunConfig

    return {
        "data": {"inspect": data_inspect, "prepare": ConfigCommand(PrepareConfig, data_prepare),
                 "convert": data_convert, "generate": data_generate, "synth": data_synth},
        "align": {
            "pretrain": ConfigCommand(AlignConfig, align_pretrain, ALIASES["pretrain"],
                                      {"--resume": str}),
            "adapt": ConfigCommand(AlignConfig, align_adapt, ALIASES["adapt"],
                                   {"--resume": str}),
            "single": ConfigCommand(AlignConfig, align_single, ALIASES["single"],
                                    {"--resume": str}),
            "run": ConfigCommand(AlignConfig, align_run, ALIASES["run"],
                                 {"--resume": str, "--single-stage": bool}),
            "report": align_report,
        },
        "policy": {"pretrain": ConfigCommand(PolicyRunConfig, policy_pretrain,
                                             POLICY_ALIASES["pretrain"], {"--resume": str})},
        "finetune": ConfigCommand(PolicyRunConfig, finetune, POLICY_ALIASES["finetune"],
                                  {"--resume": str, "--rehearse": str}),
        "eval": evaluate_policy,
        "bench": ConfigCommand(BenchConfig, bench_command, {}, {"--quick": bool}),
        "demo": demo_command,
    }


COMMANDS = ("data", "align", "policy", "finetune", "eval", "bench", "demo")

USAGE = f"""usage: ate [--version] COMMAND ...

align-then-steer {__version__}: adapt diffusion / flow robot policies with latent guidance.

commands:
  data inspect PATH     summarise a dataset (any supported format); --json for JSON
  data prepare          split, normalise and chunk as training will (--config FILE)
  data convert SRC      rewrite a dataset as HDF5 episodes or LeRobot v3.0
  data generate --suite metaworld|robosuite --tasks T ... --episodes N --out DIR   demos
  data synth            write smooth synthetic two-robot demo data
  align pretrain --data PRETRAIN        stage-1 VAE and latent prior
  align adapt --data TARGET --prior DIR  stage-2 VAE aligned to the prior
  align single --data TARGET             a VAE on the target alone (no stage 1)
  align run --pretrain-data P --target-data T [--single-stage]   both, then the report
  align report --stage1 DIR --stage2 DIR alignment report (report.json, plots)
  policy pretrain --data DEMOS [--kind diffusion|flow]   pre-train a policy
  finetune --policy DIR --data TARGET [--guidance STAGE2 --preset release --lam 2]
           [--rehearse PRETRAIN]   (co-train on the pre-training demos)
  eval --policy DIR --suite metaworld --tasks T ... --episodes 50   success rates
  bench --suite metaworld|robosuite|all [--quick]   the benchmark protocol, results.md
  demo                  the main job on a built-in default (runs what exists so far)

Run `ate COMMAND --help` for a command's options.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ate`` console script; returns the exit code.

    Logs go to stderr so that stdout carries only results (``--json`` output pipes cleanly).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if args[0] in ("-V", "--version"):
        print(f"ate {__version__}")
        return 0
    if args[0] not in COMMANDS:
        print(f"ate: unknown command '{args[0]}'.\n\n{USAGE}", file=sys.stderr)
        return 2
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.INFO, format="%(message)s", datefmt="[%X]",
                        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
                        force=True)
    try:
        _dispatch(args)
    except ATEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # tyro's own usage errors and --help
        return exc.code if isinstance(exc.code, int) else 0
    except BrokenPipeError:  # `ate ... | head`
        return 0
    except OSError as exc:  # the machine's answer about a path (permissions, disk full)
        where = _write_traceback()
        print(f"error: {exc}; check the path, its permissions and free space (traceback: "
              f"{where}).", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line here, the details in a file
        where = _write_traceback()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: internal error ({type(exc).__name__}: {first}); the full traceback "
              f"is in {where}; please report it with that file.", file=sys.stderr)
        return 1
    return 0


def _dispatch(args: list[str]) -> None:
    """Run the command ``args`` names (a group's help for a group without a subcommand)."""
    import tyro

    target = command_groups()[args[0]]
    prog, rest = f"ate {args[0]}", args[1:]
    if isinstance(target, dict) and (not rest or rest[0] in ("-h", "--help")):
        print(group_help(prog, target))
        return
    if isinstance(target, dict) and rest and isinstance(target.get(rest[0]), ConfigCommand):
        prog, target, rest = f"{prog} {rest[0]}", target[rest[0]], rest[1:]
    if isinstance(target, ConfigCommand):
        target(rest, prog)
        return
    from ate.usage_errors import one_line_usage_errors

    with one_line_usage_errors(prog) as parsed:
        if isinstance(target, dict):
            plain = {k: parsed(v) for k, v in target.items()
                     if not isinstance(v, ConfigCommand)}
            tyro.extras.subcommand_cli_from_dict(plain, args=rest, prog=prog)
        else:
            tyro.cli(parsed(target), args=rest, prog=prog)


def _write_traceback() -> str:
    """Write the exception being handled to a file in the temp folder; its path."""
    import tempfile
    import traceback

    try:
        with tempfile.NamedTemporaryFile("w", prefix="ate-traceback-", suffix=".txt",
                                         delete=False) as f:
            f.write(f"ate {__version__}: {' '.join(sys.argv)}\n\n")
            f.write(traceback.format_exc())
            return f.name
    except OSError:
        return "nowhere (the temp folder is not writable)"


def group_help(prog: str, group: dict[str, Command]) -> str:
    """Usage of a command group: each subcommand with the first line of its docstring."""
    lines = [f"usage: {prog} COMMAND [--help] ...", "", "commands:"]
    for name, cmd in group.items():
        doc = (cmd.run if isinstance(cmd, ConfigCommand) else cmd).__doc__ or ""
        lines.append(f"  {name:10} {doc.strip().splitlines()[0] if doc.strip() else ''}")
    return "\n".join(lines)
