"""The parts of a bench report that run along the fine-tuning length: success, retention on
pre-training tasks and validation loss per (arm, N) at every length, as tables and plots."""

from __future__ import annotations

from pathlib import Path

from ate.bench.config import SuiteConfig
from ate.bench.plots import errorbar_plot


def _row(s: dict, arm: str, n: int, steps: int) -> dict | None:
    return next((r for r in s["rows"] if r["arm"] == arm and r["n"] == n
                 and r.get("steps", steps) == steps), None)


def _table(s: dict, cfg: SuiteConfig, cell) -> list[str]:
    lengths = s["lengths"]
    lines = ["| arm | N | " + " | ".join(f"{k} steps" for k in lengths) + " |",
             "|---|---|" + "---|" * len(lengths)]
    for arm in cfg.arms:
        for n in cfg.demos:
            cells = [_row(s, arm, n, k) for k in lengths]
            if any(c is not None for c in cells):
                lines.append(f"| {arm} | {n} | " + " | ".join(
                    "-" if c is None else cell(c) for c in cells) + " |")
    return lines


def _rate(r: dict) -> str:
    return f"{r['rate']:.1%} [{r['interval'][0]:.1%}, {r['interval'][1]:.1%}]"


def length_sections(s: dict, cfg: SuiteConfig) -> list[str]:
    """Markdown: success vs fine-tuning length (with more than one length), retained success
    on the retention tasks, validation loss; each only when recorded."""
    lines: list[str] = []
    if len(s.get("lengths") or []) > 1:
        lines += ["### Success vs fine-tuning length (pooled over seeds and targets)", "",
                  *_table(s, cfg, _rate), ""]
    before = s.get("retention_before")
    if any("retained" in r for r in s["rows"]):
        head = ("" if before is None else f" The pre-trained policy before fine-tuning: "
                f"{_rate(before)}.")
        lines += ["### Retained success on pre-training tasks", "",
                  f"Tasks: {', '.join(cfg.retention_tasks)}; {cfg.eval_episodes} episodes "
                  "each per seed, the fine-tuned weights in the pre-trained policy's units "
                  "(normalisers)." + head + " In brackets: the change from before.", "",
                  *_table(s, cfg, lambda r: _retained(r, before)), ""]
        if any("retained_difference" in d for d in s.get("differences", [])):
            lines += ["### Paired difference in retained success, arm - direct (bootstrap "
                      "95% interval over seeds and episodes)", "",
                      *_difference_table(s, cfg), ""]
    if any("val_loss" in r for r in s["rows"]):
        lines += ["### Validation loss on held-out target demos", "",
                  f"The plain training loss (no guidance) on {cfg.val_demos} demos per target "
                  "recorded apart from the pool, mean over seeds (lower is a better fit of "
                  "the target's action distribution).", "",
                  *_table(s, cfg, lambda r: "-" if "val_loss" not in r
                          else f"{r['val_loss']:.4f}"), ""]
    return lines


def _difference_table(s: dict, cfg: SuiteConfig) -> list[str]:
    lengths = s["lengths"]
    lines = ["| arm | N | " + " | ".join(f"{k} steps" for k in lengths) + " |",
             "|---|---|" + "---|" * len(lengths)]
    for arm in cfg.arms:
        for n in cfg.demos:
            cells = [next((d for d in s["differences"] if d["arm"] == arm and d["n"] == n
                           and d.get("steps", k) == k and "retained_difference" in d), None)
                     for k in lengths]
            if any(c is not None for c in cells):
                lines.append(f"| {arm} | {n} | " + " | ".join(
                    "-" if c is None else f"{c['retained_difference']:+.1%} "
                    f"[{c['retained_interval'][0]:+.1%}, {c['retained_interval'][1]:+.1%}]"
                    for c in cells) + " |")
    return lines


def _retained(r: dict, before: dict | None) -> str:
    if "retained" not in r:
        return "-"
    kept = r["retained"]
    change = "" if before is None else f" ({kept['rate'] - before['rate']:+.1%})"
    return f"{kept['rate']:.1%}{change}"


def length_plots(s: dict, out: Path, suffix: str) -> list[str]:
    """Per N, against the fine-tuning length: success (with more than one length),
    retained success and validation loss, one line per arm."""
    lengths = s.get("lengths") or []
    arms = list(dict.fromkeys(r["arm"] for r in s["rows"]))
    paths = []
    for n in sorted({r["n"] for r in s["rows"]}):
        for key, label, name in (("rate", "success rate", "success_vs_steps"),
                                 ("retained", "retained success", "retained_vs_steps"),
                                 ("val_loss", "validation loss", "val_loss_vs_steps")):
            series = {}
            for arm in arms:
                points = [_point(r, key) for k in lengths if (r := _row(s, arm, n, k))
                          is not None and (key == "rate" or key in r)]
                if points:
                    series[arm] = points
            if not series or (key == "rate" and len(lengths) < 2):
                continue
            path = out / f"{name}_{s['suite']}-n{n}{suffix}.png"
            paths.append(str(errorbar_plot(series, path, label, f"{s['suite']}, N = {n}: "
                                           f"{label} vs fine-tuning steps", colors=arms,
                                           xlabel="fine-tuning steps")))
    return paths


def _point(r: dict, key: str) -> tuple[float, float, float, float]:
    steps = float(r["steps"])
    if key == "rate":
        return steps, r["rate"], *r["interval"]
    if key == "retained":
        kept = r["retained"]
        return steps, kept["rate"], *kept["interval"]
    return steps, r["val_loss"], r["val_loss"], r["val_loss"]
