"""Pick the latent term to test out of sample on robosuite (issue "Beyond the paper").

Reads the Meta-World reports that ``docs/results/beyond-paper.sh`` keeps
(``docs/results/metaworld-beyond[-x0]-<kind>-b<beta>-n<N>.json``, ``-x0`` for the release's
x0 diffusion family) and those of ``docs/results/beyond-300.sh``'s block
(``metaworld-beyond-x0-<lengths>-<kind>-b<beta>-n<N>.json``, its own direct jobs, so its
differences are paired as the grid's are), and prints ``<kind> <beta>`` of the term whose
paired target-success difference against direct is largest at the longest fine-tuning
length any report reached (ties: the larger retained difference). The choice is made before the
robosuite run, from Meta-World alone, so the robosuite number is out of sample whatever the
Meta-World intervals say.

    python docs/results/best_latent_term.py [--n 5] [--family flow|x0] [--dir docs/results]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

NAME = re.compile(
    r"metaworld-beyond(-x0)?(?:-[0-9]+)*-(consistency|manifold)-b([0-9.e+-]+)-n(\d+)\.json$")


def candidates(folder: Path, n: int, family: str = "flow") -> list[tuple[float, float, str, str]]:
    """(target difference, retained difference, kind, beta) at the longest length any report
    of ``family`` reached (``flow``: the bench's default policy; ``x0``: the release's
    family); reports that stop short of it are left out."""
    found = []
    for path in sorted(folder.glob(f"metaworld-beyond-*-n{n}.json")):
        match = NAME.search(path.name)
        if match is None or (match.group(1) == "-x0") != (family == "x0"):
            continue
        kind, beta = match.group(2), match.group(3)
        suite = json.loads(path.read_text())["suites"][0]
        longest = max(suite["lengths"])
        rows = [d for d in suite["differences"]
                if d["arm"] == f"latent_{kind}" and d["n"] == n and d["steps"] == longest]
        if rows:
            found.append((longest, rows[0]["difference"],
                          rows[0].get("retained_difference", 0.0), kind, beta))
    reach = max((f[0] for f in found), default=0)
    return [f[1:] for f in found if f[0] == reach]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="demos per target of the grid")
    parser.add_argument("--family", choices=("flow", "x0"), default="flow",
                        help="the policy family of the grid (beyond-paper.sh's FAMILY)")
    parser.add_argument("--dir", type=Path, default=Path("docs/results"))
    args = parser.parse_args()
    found = candidates(args.dir, args.n, args.family)
    if not found:
        print(f"no {args.family} metaworld-beyond-*-n{args.n}.json in {args.dir}: run "
              "docs/results/beyond-paper.sh first", file=sys.stderr)
        return 1
    for diff, kept, kind, beta in sorted(found, reverse=True):
        print(f"{kind} beta {beta}: target {diff:+.1%}, retained {kept:+.1%}", file=sys.stderr)
    print(*max(found)[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
