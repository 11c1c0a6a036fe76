"""What ``ate data inspect`` reports about a dataset, as plain JSON-ready data."""

from __future__ import annotations

import warnings

import numpy as np

from ate.data.episodes import Episodes


def summarize(episodes: Episodes, chunk_length: int | None = None) -> dict[str, object]:
    """Format, counts, episode lengths, per-dim statistics, NaN/inf and constant dims.

    Statistics are over finite values only; ``nonfinite`` counts the others per dim.
    With ``chunk_length`` H, also the number of full windows (sum of n - H + 1) and of
    episodes too short to give one.
    """
    a = episodes.actions.astype(np.float64)
    finite = np.isfinite(a)
    clean = np.where(finite, a, np.nan)
    lengths = episodes.lengths
    with warnings.catch_warnings():  # all-NaN dims give NaN stats, reported as such
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(clean, 0), np.nanmax(clean, 0)
        mean, std = np.nanmean(clean, 0), np.nanstd(clean, 0)
    constant = [int(i) for i in np.flatnonzero(hi == lo)]
    bad_eps = [episodes.names[i] for i in range(len(episodes))
               if not finite[episodes.starts[i]:episodes.ends[i]].all()]
    splits: dict[str, int] = {}
    for s in episodes.splits:
        splits[s or "unlabelled"] = splits.get(s or "unlabelled", 0) + 1
    out: dict[str, object] = {
        "path": str(episodes.source),
        "format": episodes.format,
        "action_key": episodes.action_key,
        "episodes": len(episodes),
        "steps": episodes.num_steps,
        "action_dim": episodes.dim,
        "obs_dim": episodes.obs_dim,
        "tasks": episodes.task_names,
        "length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                   "max": int(lengths.max())},
        "splits": splits,
        "dims": [{"index": i, "min": _num(lo[i]), "max": _num(hi[i]), "mean": _num(mean[i]),
                  "std": _num(std[i]), "nonfinite": int((~finite[:, i]).sum())}
                 for i in range(episodes.dim)],
        "constant_dims": constant,
        "nonfinite_episodes": len(bad_eps),
        "nonfinite_episode_names": bad_eps[:20],
        "nonfinite_dropped": episodes.nonfinite_dropped,
    }
    if chunk_length is not None:
        out["chunks"] = {"chunk_length": chunk_length,
                         "windows": int(np.maximum(lengths - chunk_length + 1, 0).sum()),
                         "episodes_too_short": int((lengths < chunk_length).sum())}
    return out


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)
