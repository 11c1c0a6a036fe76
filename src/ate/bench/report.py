"""``results.json``, ``results.md`` and plots of a bench run.

Success rates pool every evaluation episode of an (arm, N) over seeds and targets, with an
exact Clopper-Pearson 95% interval. The paired difference ``arm - direct`` compares the two
arms on the same demos, training seed and evaluation seeds; its 95% interval is a percentile
bootstrap that resamples training seeds, then evaluation episodes within each (seed,
target), so it carries both sources of noise.
"""

from __future__ import annotations

import json
import platform
import sys
from collections import defaultdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np

from ate.align.coverage import UNCOVERED_RATIO
from ate.bench.config import SuiteConfig
from ate.bench.length_report import length_plots, length_sections
from ate.bench.plots import errorbar_plot
from ate.bench.stats import success_interval
from ate.bench.suite import SuiteRun
from ate.sim.robosuite_env import HORIZON

BOOTSTRAP = 2000


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on."""
    out = {"python": platform.python_version()}
    for name in ("align-then-steer", "torch", "numpy", "mujoco", "metaworld", "robosuite",
                 "diffusers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def outcomes(jobs: list[dict], arm: str, n: int, steps: int | None = None,
             field: str = "evals") -> dict[int, list[np.ndarray]]:
    """seed -> per-target arrays of episode outcomes (0/1), targets in a fixed order, of the
    jobs of one (arm, N) and fine-tuning length (None: any; a record without ``steps``
    matches every length); ``field="retained"`` gives the retention tasks'."""
    out: dict[int, list[np.ndarray]] = {}
    for job in jobs:
        if job["arm"] == arm and job["n"] == n and field in job and (
                steps is None or job.get("steps", steps) == steps):
            out[job["seed"]] = [np.asarray(e["outcomes"], dtype=float) for e in job[field]]
    return out


def pooled(by_seed: dict[int, list[np.ndarray]]) -> dict:
    """Success pooled over seeds and targets: counts, rate, exact 95% interval, per seed."""
    flat = np.concatenate([np.concatenate(v) for v in by_seed.values()])
    wins, total = int(flat.sum()), len(flat)
    return {"successes": wins, "episodes": total, "rate": wins / total,
            "interval": list(success_interval(wins, total)),
            "per_seed": {str(s): float(np.mean(np.concatenate(v)))
                         for s, v in sorted(by_seed.items())}}


def grid_lengths(run: SuiteRun) -> list[int]:
    """The fine-tuning lengths of a run's jobs (the config's when no job says)."""
    found = {j["steps"] for j in run.jobs if "steps" in j}
    return sorted(found) or list(run.config.grid_lengths)


def paired_difference(a: dict[int, list[np.ndarray]], b: dict[int, list[np.ndarray]],
                      seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``a - b`` over seeds, targets and episodes, with its bootstrap 95% interval."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return float("nan"), float("nan"), float("nan")
    diffs = [[x - y for x, y in zip(a[s], b[s], strict=True)] for s in seeds]
    point = float(np.mean([np.mean(np.concatenate(d)) for d in diffs]))
    rng = np.random.default_rng(seed)
    boot = np.empty(BOOTSTRAP)
    for k in range(BOOTSTRAP):
        picks = rng.integers(len(seeds), size=len(seeds))
        boot[k] = np.mean([np.mean(np.concatenate(
            [d[rng.integers(len(d), size=len(d))] for d in diffs[i]])) for i in picks])
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return point, float(lo), float(hi)


# ATE against the arms that each take one of its ingredients away: the tilted sign (the same
# displacement of the regression target, pointed the other way), the single-stage VAE (the
# same guidance through a VAE with no alignment to the pre-training prior) and action space
# (the same guidance with no VAE at all); and Steer added to co-training on the pre-training
# demos against that co-training alone
CONTROLS: tuple[tuple[str, str, str], ...] = (
    ("ate_paper", "ate_tilted", "the sign"),
    ("ate_paper", "single_stage", "the alignment"),
    ("ate_paper", "action_space", "the VAE"),
    ("ate_rehearsal", "rehearsal", "Steer, under co-training"))


def control_differences(jobs: list[dict], arms: tuple[str, ...], demos: tuple[int, ...],
                        lengths: list[int]) -> list[dict]:
    """``paired_difference`` of ATE against each of its controls present in ``arms``, per
    (N, fine-tuning length), over the seeds both finished; success in [0, 1]."""
    out = []
    for arm, against, tests in CONTROLS:
        if arm not in arms or against not in arms:
            continue
        for steps in lengths:
            for n in demos:
                mine, theirs = outcomes(jobs, arm, n, steps), outcomes(jobs, against, n, steps)
                shared = sorted(set(mine) & set(theirs))
                if not shared:
                    continue
                point, lo, hi = paired_difference(mine, theirs)
                out.append({"arm": arm, "against": against, "tests": tests, "n": n,
                            "steps": steps, "difference": point, "interval": [lo, hi],
                            "seeds": shared})
    return out


def retained_difference(jobs: list[dict], arm: str, n: int, steps: int) -> dict:
    """``paired_difference`` of the retention tasks' outcomes (arm - direct; the same seeded
    episodes), as ``retained_difference`` and ``retained_interval``; empty when either
    lacks them."""
    mine, direct = (outcomes(jobs, a, n, steps, "retained") for a in (arm, "direct"))
    if not (mine and direct and set(mine) & set(direct)):
        return {}
    point, lo, hi = paired_difference(mine, direct)
    return {"retained_difference": point, "retained_interval": [lo, hi]}


def summarize(run: SuiteRun) -> dict:
    """The numbers of one suite: success per (arm, N), paired differences, per target,
    stage costs, expert success."""
    cfg, jobs = run.config, run.jobs
    rows, diffs, per_target = [], [], []
    for steps in grid_lengths(run):
        for n in cfg.demos:
            for arm in cfg.arms:
                by_seed = outcomes(jobs, arm, n, steps)
                if not by_seed:
                    continue
                rows.append({"arm": arm, "n": n, "steps": steps, **pooled(by_seed)})
                mine = [j for j in jobs if j["arm"] == arm and j["n"] == n
                        and j.get("steps", steps) == steps]
                rows[-1].update(heldout_fields(mine, outcomes(jobs, arm, n, steps, "retained")))
                if arm != "direct" and "direct" in cfg.arms:
                    point, dlo, dhi = paired_difference(by_seed, outcomes(jobs, "direct", n,
                                                                          steps))
                    diffs.append({"arm": arm, "n": n, "steps": steps, "difference": point,
                                  "interval": [dlo, dhi],
                                  **retained_difference(jobs, arm, n, steps)})
    # per target at every length; plots against N use the suite's own fine-tuning length when
    # the grid holds it
    lengths = grid_lengths(run)
    at = cfg.finetune_steps if cfg.finetune_steps in lengths else lengths[0]
    totals: dict[tuple, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for job in jobs:
        for e in job["evals"]:
            key = (job.get("steps", at), job["arm"], e["robot"], e["task"])
            totals[key][job["n"]].extend(e["outcomes"])
    for (steps, arm, robot, task), by_n in sorted(totals.items()):
        out = [x for n in sorted(by_n) for x in by_n[n]]
        per_target.append({"arm": arm, "robot": robot, "task": task, "steps": steps,
                           "rate": float(np.mean(out)), "episodes": len(out),
                           "by_n": {str(n): float(np.mean(by_n[n])) for n in sorted(by_n)}})
    return {"suite": cfg.suite, "rows": rows, "differences": diffs,
            "controls": control_differences(jobs, cfg.arms, cfg.demos, lengths),
            "per_target": per_target,
            "per_target_steps": at, "lengths": lengths,
            "retention_before": before_fields(run.retention_before),
            "coverage": run.coverage,
            "stages": [vars(s) for s in run.stages], "expert": run.expert,
            "train_s": sum(j["train_s"] for j in run.jobs),
            "eval_s": sum(j["eval_s"] for j in run.jobs),
            "job_peak_mb": max((j["peak_mb"] for j in run.jobs), default=0.0)}


def heldout_fields(jobs: list[dict], retained: dict[int, list[np.ndarray]]) -> dict:
    """Steer's shift, retention and validation loss of one (arm, N, length), when recorded:
    means over seeds (retention pooled like success)."""
    out: dict = {}
    steer = [j["steer"] for j in jobs if "steer" in j]
    if steer:
        out["target_shift"] = float(np.mean([x["ratio"] for x in steer]))
        out["noise_cosine"] = float(np.mean([x.get("noise_cosine", np.nan) for x in steer]))
    if retained:
        out["retained"] = pooled(retained)
    val = [j["val_loss"] for j in jobs if j.get("val_loss") is not None]
    if val:
        out["val_loss"] = float(np.mean(val))
        out["val_loss_per_seed"] = {str(j["seed"]): j["val_loss"] for j in jobs
                                    if j.get("val_loss") is not None}
    return out


def before_fields(evals: list[dict]) -> dict | None:
    """The pre-trained policy's success on the retention tasks, pooled (None without)."""
    if not evals:
        return None
    return pooled({0: [np.asarray(e["outcomes"], dtype=float) for e in evals]})


def write_results(runs: list[SuiteRun], out: Path, command: str, wall_s: float,
                  tag: str = "") -> Path:
    """Write results.json, results.md and the plots to ``out`` (names end in ``-tag`` when
    given); returns results.md."""
    name = f"results-{tag}" if tag else "results"
    out.mkdir(parents=True, exist_ok=True)
    header = {"command": command, "versions": versions(), "date":
              datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {_cores()} CPU cores", "wall_s": wall_s}
    suites = [summarize(r) for r in runs]
    configs = {r.config.suite: _config_dict(r) for r in runs}
    (out / f"{name}.json").write_text(json.dumps(
        {**header, "suites": suites, "configs": configs}, indent=2))
    plots = [plot_suite(s, out, tag) for s in suites]
    md = [f"# ate bench results ({', '.join(s['suite'] for s in suites)})", "",
          f"- command: `{command}`", f"- date: {header['date']}; machine: {header['machine']}",
          "- versions: " + ", ".join(f"{k} {v}" for k, v in header["versions"].items()),
          f"- wall time of this invocation: {wall_s / 60:.1f} min"
          + (" (it reused earlier work: see the notes under Cost)"
             if any(st.note for r in runs for st in r.stages) else ""), ""]
    for s, run, plot in zip(suites, runs, plots, strict=True):
        md += suite_markdown(s, run, plot)
    (out / f"{name}.md").write_text("\n".join(md) + "\n")
    return out / f"{name}.md"


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _config_dict(run: SuiteRun) -> dict:
    from ate.config import to_dict

    return to_dict(run.config)


def _target_cell(target: dict | None, demos: tuple[int, ...], each_n: bool) -> str:
    """Pooled success of one target, with each N's in brackets (records from before
    ``by_n`` was kept show the pooled rate alone)."""
    if target is None:
        return "-"
    cell = f"{target['rate']:.1%}"
    by_n = target.get("by_n", {})
    if each_n and by_n:
        cell += " (" + " / ".join(f"{by_n[str(n)]:.0%}" if str(n) in by_n else "-"
                                  for n in demos) + ")"
    return cell


def _step_limit(cfg: SuiteConfig) -> str:
    """The suite's step limit, or each task's own when it sets none."""
    if cfg.max_steps:
        return f"max {cfg.max_steps} steps"
    own = [f"{HORIZON[t]} on {t}" for t in cfg.target_tasks if t in HORIZON]
    return f"max steps {', '.join(own)}" if own else "each task's own step limit"


def _success_tables(s: dict, cfg: SuiteConfig, steps: int, when: str) -> list[str]:
    """Success per (arm, N) and the paired differences to direct at one length."""
    lines = [f"### Success rate{when} (pooled over seeds and targets, exact 95% interval)",
             "", "| arm | " + " | ".join(f"N={n}" for n in cfg.demos) + " |",
             "|---|" + "---|" * len(cfg.demos)]
    rows = [r for r in s["rows"] if r.get("steps", steps) == steps]
    diffs = [d for d in s["differences"] if d.get("steps", steps) == steps]
    for arm in cfg.arms:
        cells = []
        for n in cfg.demos:
            row = next((r for r in rows if r["arm"] == arm and r["n"] == n), None)
            cells.append("-" if row is None else
                         f"{row['rate']:.1%} [{row['interval'][0]:.1%}, "
                         f"{row['interval'][1]:.1%}] (seeds: "
                         + ", ".join(f"{v:.0%}" for v in row["per_seed"].values()) + ")")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += ["", f"### Paired difference arm - direct{when} (bootstrap 95% interval over "
              "seeds and episodes)", "",
              "| arm | " + " | ".join(f"N={n}" for n in cfg.demos) + " |",
              "|---|" + "---|" * len(cfg.demos)]
    for arm in cfg.arms:
        if arm == "direct":
            continue
        cells = []
        for n in cfg.demos:
            d = next((d for d in diffs if d["arm"] == arm and d["n"] == n), None)
            cells.append("-" if d is None else f"{d['difference']:+.1%} "
                         f"[{d['interval'][0]:+.1%}, {d['interval'][1]:+.1%}]")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return [*lines, "", *_control_table(s, cfg, steps, when)]


def _control_table(s: dict, cfg: SuiteConfig, steps: int, when: str) -> list[str]:
    """ATE - each control at one length (nothing when the run has no control arm)."""
    controls = [c for c in s.get("controls", []) if c["steps"] == steps]
    if not controls:
        return []
    lines = [f"### Paired difference ATE - its controls{when} (same episodes; what the "
             "control takes away)", "",
             "| pair | " + " | ".join(f"N={n}" for n in cfg.demos) + " |",
             "|---|" + "---|" * len(cfg.demos)]
    for arm, against, tests in CONTROLS:
        mine = {c["n"]: c for c in controls if c["arm"] == arm and c["against"] == against}
        if not mine:
            continue
        cells = ["-" if n not in mine else f"{mine[n]['difference']:+.1%} "
                 f"[{mine[n]['interval'][0]:+.1%}, {mine[n]['interval'][1]:+.1%}]"
                 for n in cfg.demos]
        lines.append(f"| {arm} - {against} ({tests}) | " + " | ".join(cells) + " |")
    return [*lines, ""]


def suite_markdown(s: dict, run: SuiteRun, plots: list[str]) -> list[str]:
    """The markdown section of one suite."""
    cfg = run.config
    robots = (f" on each of {', '.join(cfg.pretrain_robots)}; target robots "
              f"{', '.join(cfg.target_robots)}" if cfg.target_robots else "")
    lines = [f"## {s['suite']}", "",
             f"Pre-training: {len(cfg.pretrain_tasks)} tasks x {cfg.pretrain_episodes} demos"
             f"{robots}. Targets: {', '.join(cfg.target_tasks)}. N in {list(cfg.demos)}, seeds "
             f"{list(cfg.seeds)}, {cfg.eval_episodes} evaluation episodes per target and "
             f"seed ({_step_limit(cfg)}, executing {cfg.execute} of "
             f"{cfg.chunk_length} actions per chunk, {cfg.eval_batch} environments in lock "
             f"step). Policy: {cfg.policy.kind}, "
             f"{cfg.pretrain_steps} pre-training and "
             f"{' / '.join(map(str, s.get('lengths') or [cfg.finetune_steps]))} "
             "fine-tuning steps. "
             f"ATE: {cfg.guidance.describe()}.", ""]
    lengths = s.get("lengths") or [cfg.finetune_steps]
    for steps in lengths:
        lines += _success_tables(s, cfg, steps, f" after {steps} fine-tuning steps"
                                 if len(lengths) > 1 else "")
    lines += length_sections(s, cfg)
    shifted = [arm for arm in cfg.arms if any(
        r["arm"] == arm and "target_shift" in r for r in s["rows"])]
    if shifted:
        lines += ["### Steer's displacement of the regression target", "",
                  "RMS of the displacement of the clean action the guided target implies "
                  "(at the true time) as a share of the target actions' RMS, and its "
                  "cosine with (noisy - clean): positive moves the clean-action estimate "
                  "toward the noise (`ate.steer.shift`); mean over seeds.", "",
                  "| arm | " + " | ".join(f"N={n}" for n in cfg.demos) + " |",
                  "|---|" + "---|" * len(cfg.demos)]
        for arm in shifted:
            cells = [next((f"{r['target_shift']:.1%} (cos {r['noise_cosine']:+.2f})"
                           for r in s["rows"] if r["arm"] == arm and r["n"] == n
                           and "target_shift" in r), "-") for n in cfg.demos]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    lines += coverage_section(s.get("coverage") or [])
    lines += per_target_section(s, cfg.arms, cfg.demos)
    lines += ["", "### Cost", "", "| stage | wall | peak memory |", "|---|---|---|"]
    for st in s["stages"]:
        note = f" ({st['note']})" if st.get("note") else ""
        lines.append(f"| {st['stage']}{note} | {st['seconds'] / 60:.1f} min | "
                     f"{st['peak_mb']:.0f} MB |")
    lines += ["", f"Summed over jobs: training {s['train_s'] / 60:.1f} min, evaluation "
              f"{s['eval_s'] / 60:.1f} min ({cfg.workers} at a time); peak memory of one job "
              f"{s['job_peak_mb']:.0f} MB.", "", "### Scripted experts", "",
              "| side | robot | task | kept | attempts | expert success |",
              "|---|---|---|---|---|---|"]
    for e in s["expert"]:
        lines.append(f"| {e['side']} | {e['robot'] or '-'} | {e['task']} | {e['kept']} | "
                     f"{e['attempts']} | {e['success']:.0%} |")
    lines += [""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots] + [""]
    return lines


def per_target_section(s: dict, arms: tuple[str, ...], demos: tuple[int, ...]) -> list[str]:
    """Markdown: success per target and arm, one table per fine-tuning length (records from
    before every length was kept hold ``per_target_steps``'s alone)."""
    targets = sorted({(t["robot"], t["task"]) for t in s["per_target"]})
    each_n = len(demos) > 1
    at = s["per_target_steps"]
    lengths = s.get("lengths") or [at]
    lines = []
    for steps in lengths:
        here = [t for t in s["per_target"] if t.get("steps", at) == steps]
        if not here:
            continue
        after = f" after {steps} fine-tuning steps" if len(lengths) > 1 else ""
        lines += ["", f"### Per target{after} (pooled over N and seeds" + (
                      f"; in brackets N = {' / '.join(map(str, demos))})" if each_n else ")"),
                  "", "| arm | " + " | ".join(f"{r}/{t}".strip("/") for r, t in targets) + " |",
                  "|---|" + "---|" * len(targets)]
        for arm in arms:
            found = {(t["robot"], t["task"]): t for t in here if t["arm"] == arm}
            lines.append(f"| {arm} | " + " | ".join(_target_cell(found.get(k), demos, each_n)
                                                   for k in targets) + " |")
    return lines


def coverage_section(rows: list[dict]) -> list[str]:
    """Markdown: does pre-training cover each subset's target (``ate.align.coverage``)?"""
    if not rows:
        return []

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}" if a is not None and b else "-"

    lines = ["", "### Does pre-training cover the targets?", "",
             "The stage-1 VAE (pre-training actions only) reconstructs the target's chunks: "
             "RMS in its normalised units, and as a multiple of its error on held-out "
             "pre-training chunks (above 1.5: not covered, the paper's failure case) and of "
             "the target's for two non-motions (near 1: the VAE does not tell motions apart). "
             "`ate align report`, docs/align.md.", "",
             "| N | seed | pre-training | target | target / pre-training | time-shuffled / "
             "target | noise / target | warns |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["n"], r["seed"])):
        pre = r.get("pre-training")
        uncovered = r.get("ratio") is not None and r["ratio"] > UNCOVERED_RATIO
        warns = ("not covered" if uncovered else "controls" if r.get("warnings") else "-")
        lines.append(
            f"| {r['n']} | {r['seed']} | {'-' if pre is None else f'{pre:.3f}'} | "
            f"{r['target']:.3f} | {ratio(r['target'], pre)} | "
            f"{ratio(r.get('control: time-shuffled'), r['target'])} | "
            f"{ratio(r.get('control: uniform noise'), r['target'])} | {warns} |")
    return lines


def plot_suite(s: dict, out: Path, tag: str = "") -> list[str]:
    """success_vs_n_<suite>[-tag].png and paired_difference_<suite>[-tag].png."""
    suffix = f"-{tag}" if tag else ""
    at = s.get("per_target_steps")  # vs N: at the suite's own length
    rows = [r for r in s["rows"] if r.get("steps", at) == at]
    diffs = [d for d in s["differences"] if d.get("steps", at) == at]
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    series = {arm: [(r["n"], r["rate"], *r["interval"]) for r in rows if r["arm"] == arm]
              for arm in arms}
    paths = [errorbar_plot(series, out / f"success_vs_n_{s['suite']}{suffix}.png",
                            "success rate", f"{s['suite']}: success vs N (95% interval)")]
    if diffs:  # only with a direct arm to pair with
        by_arm = {arm: [(d["n"], d["difference"], *d["interval"])
                        for d in diffs if d["arm"] == arm]
                  for arm in arms if arm != "direct"}
        paths.append(errorbar_plot(by_arm, out / f"paired_difference_{s['suite']}{suffix}.png",
                                    "success difference",
                                    f"{s['suite']}: paired difference to direct fine-tuning",
                                    zero_line=True, colors=arms, suffix=" - direct"))
    return [str(p) for p in paths] + length_plots(s, out, suffix)


def command_line() -> str:
    """The command as typed."""
    return " ".join(["ate", *sys.argv[1:]]) if sys.argv else "ate bench"
