"""The suite's demos: expert recordings, the seeded subsets drawn from the pool, their
content fingerprints, and how every policy and VAE of the suite reads them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from ate.bench.config import SuiteConfig
from ate.data.config import DataConfig, SlotConfig
from ate.errors import DataError

OBS_KEY = "observations/state"


def make_demos(config: SuiteConfig, data: Path, expert: list[dict]) -> tuple[Path, Path]:
    """Expert demos: the pre-training corpus and a pool of max(demos) per target (task,
    robot). Both are reused when present (the generator resumes); each task's expert record
    is appended to ``expert``."""
    from ate.sim.generate import generate

    pool_size = config.pool_size
    sides = [("pretrain", config.pretrain_tasks, config.pretrain_robots,
              config.pretrain_episodes, 0),
             ("pool", config.target_tasks, config.target_robots, pool_size, 1)]
    if config.val_demos:  # seeds of their own: never a demo of the pool
        sides.append(("val", config.target_tasks, config.target_robots, config.val_demos, 2))
    for name, tasks, robots, episodes, seed in sides:
        reports = generate(config.suite, tasks, episodes, data / name, seed, config.workers,
                           robots)
        for r in reports:
            expert.append({"side": name, "task": r.task, "robot": r.robot,
                               "kept": r.kept, "attempts": r.total_attempts,
                               "success": r.expert_success})
        short = [f"{r.robot}/{r.task}".strip("/") for r in reports if r.kept < episodes]
        if short:
            raise DataError(f"{data / name}: the expert solved too few episodes of {short}; "
                            "run the bench again (generation resumes) or drop those tasks.")
    return data / "pretrain", data / "pool"


def make_subset(pool: Path, n: int, seed: int, dest: Path, size: int | None = None) -> Path:
    """Copy n demos of every (robot/)task folder of ``pool`` to ``dest``, drawn by ``seed``
    from the folder's first ``size`` episodes (None: all; the same draw for every arm).
    ``dest/subset.json`` records what they were drawn from: a subset whose source changed
    (a pool grown from fewer demos, re-recorded) is drawn again, and what was trained on the
    old draw is recognised by :func:`subset_print`."""
    marker = dest / "subset.json"
    sources = {}
    for folder in sorted({p.parent for p in pool.rglob("episode_*.hdf5")}):
        files = sorted(folder.glob("episode_*.hdf5"), key=lambda p: int(p.stem.split("_")[1]))
        if len(files) < max(n, size or 0):
            raise DataError(f"{folder} holds {len(files)} demos, fewer than N = {n} or the "
                            f"pool of {size}; generate more (`ate bench` does) or lower them.")
        sources[folder] = files[:size]
    source_print = files_print(pool, [f for files in sources.values() for f in files])
    if marker.exists() and json.loads(marker.read_text()).get("pool") == source_print:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for folder, files in sources.items():
        pick = np.random.default_rng(seed).choice(len(files), size=n, replace=False)
        out = dest / folder.relative_to(pool)
        out.mkdir(parents=True, exist_ok=True)
        for k, i in enumerate(sorted(pick)):
            shutil.copy(files[i], out / f"episode_{k}.hdf5")
    record = {"pool": source_print, "n": n, "seed": seed, "subset": fingerprint(dest)}
    (dest / "subset.json.tmp").write_text(json.dumps(record))
    (dest / "subset.json.tmp").replace(marker)
    return dest


def subset_print(dest: Path) -> str:
    """The content fingerprint of a subset made by :func:`make_subset`."""
    return json.loads((dest / "subset.json").read_text())["subset"]


def fingerprint(folder: Path) -> str:
    """Names and contents of a demo folder's files: demos added, or re-recorded with other
    labels at the same size (the clipped Meta-World actions were), change it."""
    return files_print(folder, folder.rglob("*.hdf5"))


def files_print(root: Path, paths) -> str:
    """SHA-256 over the names (relative to ``root``) and contents of ``paths``."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        with path.open("rb") as f:
            content = hashlib.file_digest(f, "sha256").hexdigest()
        digest.update(f"{path.relative_to(root)}:{content};".encode())
    return digest.hexdigest()


def data_config(config: SuiteConfig, path: Path, val: float, slots: SlotConfig
                ) -> DataConfig:
    """Chunks with an observation history, as every policy and VAE of the suite reads."""
    return DataConfig(path=str(path), obs_key=OBS_KEY, obs_horizon=config.obs_horizon,
                      chunk_length=config.chunk_length, val_fraction=val, slots=slots)


def target_slots(config: SuiteConfig, pool: Path) -> SlotConfig:
    """Identity when the target's D equals the pre-training's; otherwise the target's arm
    joints go to the first slots and its gripper to the last (robosuite UR5e: 7 -> 8)."""
    from ate.data.load import load_episodes

    pre = load_episodes(pool.parent / "pretrain").dim
    dim = load_episodes(pool).dim
    if dim == pre:
        return SlotConfig()
    if dim > pre:
        raise DataError(f"{pool}: the target's {dim}-d actions exceed the pre-training's "
                        f"{pre}; pre-train on the wider robot.")
    return SlotConfig(layout="explicit", size=pre, indices=(*range(dim - 1), pre - 1))
