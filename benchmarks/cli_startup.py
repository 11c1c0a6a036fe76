"""Wall time of `ate --version`, `ate --help` and `ate data --help` in fresh processes, beside
a bare `python -c pass` (the floor): the first two import nothing beyond `ate.cli`, so they
should stay near the floor and well under 1 s; a group's help imports its commands.

    python benchmarks/cli_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "ate --version": [sys.executable, "-m", "ate", "--version"],
    "ate --help": [sys.executable, "-m", "ate", "--help"],
    "ate data --help": [sys.executable, "-m", "ate", "data", "--help"],
}


def wall(cmd: list[str], env: dict[str, str]) -> float:
    tic = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    times = {name: [] for name in COMMANDS}
    for _ in range(args.runs):  # interleaved, so load on the machine hits all alike
        for name, cmd in COMMANDS.items():
            times[name].append(wall(cmd, env))
    print(f"# CLI start-up, median of {args.runs} runs; python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs")
    floor = statistics.median(times["python -c pass"])
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:18} {med * 1000:7.0f} ms  ({med / floor:.1f}x the bare interpreter)")


if __name__ == "__main__":
    main()
