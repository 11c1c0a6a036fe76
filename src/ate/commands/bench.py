"""``ate bench``: the benchmark protocol end to end, results.md at the end."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.markdown import Markdown

from ate.bench.config import BenchConfig, quick
from ate.bench.report import command_line, write_results
from ate.bench.suite import SuiteRun, run_suite
from ate.folder_lock import exclusive


def bench(config: BenchConfig, quick_run: bool = False) -> list[SuiteRun]:
    """Run the benchmark suites (demos, cached pre-training, Align, every fine-tuning arm,
    evaluation) and write results.md, results.json and plots to ``out``. Rerunning resumes:
    finished demos, cached pre-training and evaluated arms are reused.

    Use --quick for a tiny smoke run of the same pipeline (no conclusions to draw)."""
    suites = [quick(s) for s in config.selected()] if quick_run else config.selected()
    out = Path(config.out)
    tic = time.perf_counter()
    with exclusive(out, "ate bench"):
        runs = [run_suite(s, out / s.suite) for s in suites]
        tags = "-".join(s.tag for s in suites if s.tag)
        md = write_results(runs, out, command_line(), time.perf_counter() - tic, tags)
    text = md.read_text()
    # the tables, not the image links, go to the terminal
    Console().print(Markdown("\n".join(ln for ln in text.splitlines() if not ln.startswith("!["))))
    Console().print(f"results: {md} (+ results.json, plots) in {time.perf_counter() - tic:.0f} s")
    return runs


def bench_command(config: BenchConfig, quick: bool = False) -> None:
    """Run the benchmark suites of BENCHMARKS.md: demos, cached pre-training, Align, the five
    fine-tuning arms for every N and seed, evaluation; results.md, results.json and plots in
    --out (resumable). --suite metaworld|robosuite|robosuite-eef|all (all: the first two);
    --quick for a tiny smoke run."""
    bench(config, quick_run=quick)
