"""The tables of docs/results.md's "The paper's regime" from a bench report, so that each new
variant (the x0 family, the release's Align, the latent terms of "Beyond the paper") is
written from its JSON rather than copied by hand.

Prints, for one N: success on the targets per arm and fine-tuning length (exact 95%
interval), each arm's paired difference to direct (bootstrap interval), the same two for the
retention tasks, and the validation loss and Steer's displacement per arm and length.

    python docs/results/regime_table.py docs/results/metaworld-regime-x0-n5.json [--n 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def points(x: float) -> str:
    return f"{100 * x:+.1f}"


def tables(suite: dict, n: int) -> list[str]:
    """Markdown lines for one suite of a ``results.json`` at N = ``n``."""
    lengths = sorted({r["steps"] for r in suite["rows"] if r["n"] == n})
    arms = list(dict.fromkeys(r["arm"] for r in suite["rows"] if r["n"] == n))
    row = {(r["arm"], r["steps"]): r for r in suite["rows"] if r["n"] == n}
    diff = {(d["arm"], d["steps"]): d for d in suite["differences"] if d["n"] == n}
    head = ["| arm | " + " | ".join(f"{k:,} steps" for k in lengths) + " |",
            "|---|" + "---|" * len(lengths)]

    def block(title: str, rate, paired) -> list[str]:
        out = [f"### {title}", "", *head]
        for arm in arms:
            cells = [rate(row[arm, k]) if (arm, k) in row else "-" for k in lengths]
            out.append(f"| {arm} | " + " | ".join(cells) + " |")
        for arm in arms:
            if arm == "direct":
                continue
            cells = [paired(diff[arm, k]) if (arm, k) in diff else "-" for k in lengths]
            out.append(f"| {arm} - direct, paired | " + " | ".join(cells) + " |")
        return [*out, ""]

    lines = block("Success on the targets (exact 95% interval; paired: bootstrap)",
                  lambda r: f"{pct(r['rate'])} [{100 * r['interval'][0]:.1f}, "
                            f"{100 * r['interval'][1]:.1f}]",
                  lambda d: f"{points(d['difference'])} [{points(d['interval'][0])}, "
                            f"{points(d['interval'][1])}]")
    if any("retained" in r for r in row.values()):
        before = suite.get("retention_before")
        if before:
            lo, hi = (100 * x for x in before["interval"])
            lines += [f"Before fine-tuning: {pct(before['rate'])} [{lo:.1f}, {hi:.1f}] on the "
                      "retention tasks.", ""]
        lines += block("Retained success on the pre-training tasks",
                       lambda r: pct(r["retained"]["rate"]) if "retained" in r else "-",
                       lambda d: (f"{points(d['retained_difference'])} "
                                  f"[{points(d['retained_interval'][0])}, "
                                  f"{points(d['retained_interval'][1])}]")
                       if "retained_difference" in d else "-")
    extras = []
    for arm in arms:
        loss = [f"{row[arm, k]['val_loss']:.4f}" if "val_loss" in row.get((arm, k), {})
                else "-" for k in lengths]
        shift = [pct(row[arm, k]["target_shift"]) for k in lengths
                 if "target_shift" in row.get((arm, k), {})]
        extras.append(f"- {arm}: validation loss {' / '.join(loss)}"
                      + (f"; displacement {' / '.join(shift)}" if shift else ""))
    return [*lines, *extras]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a bench results*.json")
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    suites = json.loads(args.report.read_text())["suites"]
    for suite in suites:
        if not any(r["n"] == args.n for r in suite["rows"]):
            print(f"{args.report}: no rows at N = {args.n}", file=sys.stderr)
            return 1
        print("\n".join(tables(suite, args.n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
