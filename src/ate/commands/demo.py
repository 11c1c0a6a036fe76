"""``ate demo``: the main job on a built-in default.

Today it runs the data stage for real (synthetic demos of two pre-training robots and one
target robot, written in two on-disk formats, read back, split, normalised and cut into a
mixed-embodiment chunk corpus) and says plainly which stages are not built yet.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from ate.commands.data import print_summary, write_dataset
from ate.data.chunks import ChunkDataset, MixedChunkDataset, collate_chunks
from ate.data.episodes import Episodes, RawEpisode
from ate.data.load import load_episodes
from ate.data.normalizer import Normalizer
from ate.data.slots import EmbodimentSlots
from ate.data.split import split_episodes
from ate.data.summary import summarize
from ate.data.synthetic import synthetic_episodes

# (name, action dim, format on disk, role)
ROBOTS = (("arm7", 7, "hdf5", "pretrain"), ("bimanual14", 14, "hdf5", "pretrain"),
          ("arm6", 6, "lerobot", "target"))
PENDING = (
    ("align", "stage-1 VAE, latent prior, stage-2 VAE, alignment report", "issue 3"),
    ("steer", "latent guidance in the diffusion / flow objective", "issue 4"),
    ("fine-tune", "policy pre-training and guided fine-tuning", "issue 5"),
    ("evaluate", "Meta-World / robosuite rollouts, results table and plots", "issue 6"),
)


def demo(out: str = "runs/demo", episodes: int = 40, chunk_length: int = 16,
         unified_size: int = 14, seed: int = 0) -> None:
    """Run the whole pipeline on built-in synthetic robots (stages not yet built are listed).

    Args:
        out: working folder; data is written under out/data and reused when present.
        episodes: demos per robot.
        chunk_length: H, steps per action chunk.
        unified_size: U, slots of the unified action vector (pi0-style padding).
        seed: seed of the data and the split.
    """
    console = Console()
    root = Path(out) / "data"
    rows = []
    pretrain_sets = []
    for i, (name, dim, fmt, role) in enumerate(ROBOTS):
        path = root / name
        if not path.exists():
            arrays = synthetic_episodes(episodes, dim, embodiment_seed=i, seed=seed + i)
            raw = [RawEpisode(f"{name}_{j}", a) for j, a in enumerate(arrays)]
            write_dataset(Episodes.from_raw(raw), path, fmt)  # type: ignore[arg-type]
        eps = load_episodes(path)
        print_summary(summarize(eps, chunk_length), console)
        train, val = split_episodes(eps, 0.1, seed)
        norm = Normalizer.fit(train.actions, "minmax")
        ds = ChunkDataset(train, chunk_length, normalizer=norm,
                          slots=EmbodimentSlots.pad(dim, unified_size), embodiment_id=i)
        if role == "pretrain":
            pretrain_sets.append(ds)
        rows.append((name, role, eps.format, dim, len(train), 0 if val is None else len(val),
                     len(ds)))
    corpus = MixedChunkDataset(pretrain_sets)
    loader = DataLoader(corpus, batch_size=64, shuffle=True, collate_fn=collate_chunks)
    tic = time.perf_counter()
    n = sum(len(b["action"]) for b in loader)
    rate = n / (time.perf_counter() - tic)

    table = Table(title="ate demo: data stage")
    columns = ("robot", "role", "format", "D", "train eps", "val eps", f"chunks (H={chunk_length})")
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*map(str, r))
    console.print(table)
    console.print(f"pre-training corpus: {len(corpus)} chunks of shape ({chunk_length}, "
                  f"{unified_size}) from {len(pretrain_sets)} robots; one shuffled epoch at "
                  f"{rate:,.0f} chunks/s.")
    pending = Table(title="not built yet (no results are shown for these)")
    for col in ("stage", "what", "tracked in"):
        pending.add_column(col)
    for r in PENDING:
        pending.add_row(*r)
    console.print(pending)
