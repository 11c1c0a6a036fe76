"""Chunk-loading throughput on a 1M-step dataset, from HDF5 and LeRobot parquet.

Prints, side by side in one run:
  - load time (files -> one in-memory array) per format,
  - chunks/s through a shuffled DataLoader: batched gather (``__getitems__``) vs the
    per-item path a plain Dataset would take,
  - the ratio of data time to the time of one training step of a VAE-sized transformer
    (stand-in for the stage-1 VAE until it exists): loading must never be the bottleneck.

    python benchmarks/chunk_loading.py [--episodes 1000] [--length 1000] [--dim 14]
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ate.data import ChunkDataset, collate_chunks, load_episodes, write_hdf5_episodes, write_lerobot


class PerItem(torch.utils.data.Dataset):
    """The same windows without ``__getitems__``: what one-item-at-a-time loading costs."""

    def __init__(self, inner: ChunkDataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.inner[i]


def chunks_per_second(dataset, batches: int, batch_size: int) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=collate_chunks)
    it = iter(loader)
    next(it)
    tic = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch_size / (time.perf_counter() - tic)


def step_seconds(chunk: int, dim: int, batch_size: int, steps: int = 20) -> float:
    """One AdamW step of a 4-layer, 128-wide transformer over (B, H + 2, 128) tokens."""
    torch.manual_seed(0)
    embed = torch.nn.Linear(dim, 128)
    layer = torch.nn.TransformerEncoderLayer(128, 4, 256, dropout=0.0, batch_first=True)
    body = torch.nn.TransformerEncoder(layer, 4)
    head = torch.nn.Linear(128, dim)
    params = [*embed.parameters(), *body.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randn(batch_size, chunk, dim)
    tokens = torch.zeros(batch_size, 2, 128)
    times = []
    for _ in range(steps + 3):
        tic = time.perf_counter()
        h = body(torch.cat([tokens, embed(x)], 1))
        loss = torch.nn.functional.smooth_l1_loss(head(h[:, 2:]), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - tic)
    return float(np.median(times[3:]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=1000)
    p.add_argument("--length", type=int, default=1000)
    p.add_argument("--dim", type=int, default=14)
    p.add_argument("--chunk", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--batches", type=int, default=300)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    episodes = [rng.normal(size=(args.length, args.dim)).astype(np.float32)
                for _ in range(args.episodes)]
    steps = args.episodes * args.length
    print(f"# chunk loading: {args.episodes} episodes x {args.length} steps = {steps:,} steps, "
          f"D={args.dim}, H={args.chunk}, batch {args.batch_size}")
    print(f"# torch {torch.__version__}, python {platform.python_version()}, "
          f"{torch.get_num_threads()} threads")
    step = step_seconds(args.chunk, args.dim, args.batch_size)
    print(f"training step (stand-in VAE, 4 layers x 128): {step * 1e3:.1f} ms\n")
    print(f"{'format':10} {'write s':>8} {'load s':>7} {'batched chunks/s':>17} "
          f"{'per-item chunks/s':>18} {'speedup':>8} {'data/step':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("hdf5", "lerobot"):
            out = Path(tmp) / fmt
            tic = time.perf_counter()
            if fmt == "hdf5":
                write_hdf5_episodes(out, episodes)
            else:
                write_lerobot(out, episodes)
            written = time.perf_counter() - tic
            tic = time.perf_counter()
            eps = load_episodes(out)
            loaded = time.perf_counter() - tic
            assert eps.num_steps == steps
            ds = ChunkDataset(eps, args.chunk)
            fast = chunks_per_second(ds, args.batches, args.batch_size)
            slow = chunks_per_second(PerItem(ds), max(args.batches // 10, 5), args.batch_size)
            data_time = args.batch_size / fast
            print(f"{fmt:10} {written:8.2f} {loaded:7.2f} {fast:17,.0f} {slow:18,.0f} "
                  f"{fast / slow:7.1f}x {data_time / step:9.4f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB. data/step = seconds to load one batch / seconds of one "
          "training step; below 1 means loading is not the bottleneck.")


if __name__ == "__main__":
    main()
