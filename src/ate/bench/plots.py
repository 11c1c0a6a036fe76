"""The bench's one kind of plot: values with intervals against a log-scaled grid axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def errorbar_plot(series: dict[str, list[tuple[float, float, float, float]]], path: Path,
                   ylabel: str, title: str, zero_line: bool = False,
                   colors: list[str] | None = None, suffix: str = "",
                   xlabel: str = "target demos per task (N)") -> Path:
    """One line per series of (x, value, low, high), x on a log axis (N, or fine-tuning
    steps), nudged apart; a series keeps the colour of its place in ``colors`` (an arm looks
    the same in every plot) and is labelled with ``suffix`` appended."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    demos: set[float] = set()
    for k, (label, points) in enumerate(series.items()):
        n, y, lo, hi = (np.array(v, dtype=float) for v in zip(*points, strict=True))
        ax.errorbar(n * (1 + 0.03 * (k - len(series) / 2)), y, yerr=[y - lo, hi - y],
                    marker="o", capsize=3, label=label + suffix,
                    color=f"C{(colors or list(series)).index(label) % 10}")
        demos.update(n.tolist())
    if zero_line:
        ax.axhline(0.0, color="grey", lw=0.8)
    ax.set(xscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    # ticks at the grid's own values, not at powers of ten
    ax.set_xticks(sorted(demos), [f"{n:g}" for n in sorted(demos)])
    ax.minorticks_off()
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
