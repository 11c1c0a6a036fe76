"""VAE training speed and peak memory: the CPU preset and the release preset, chunk 16 and
64, batch 64; and the release preset trained the release's way (anomaly detection on in the
hot path, as its training script leaves it) for the side-by-side ratio.

Each configuration runs in its own process, so peak RSS is its own.

    python benchmarks/vae_train.py [--steps 5] [--presets cpu release]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def measure(preset: str, chunk: int, steps: int, release_way: bool) -> dict[str, float]:
    """Median seconds per step of ``steps`` steps (after 2 warm-up steps) and peak RSS."""
    import numpy as np

    from ate.align.config import AlignConfig
    from ate.align.objectives import PretrainObjective
    from ate.align.stages import build_vae
    from ate.align.trainer import VAETrainer
    from ate.config import load_yaml
    from ate.data import ChunkDataset, EmbodimentSlots, Episodes, Normalizer, RawEpisode
    from ate.data.prepare import PreparedChunks
    from ate.data.synthetic import synthetic_episodes

    cfg = load_yaml(AlignConfig, ROOT / "configs/align" / f"{preset}.yaml")
    arrays = synthetic_episodes(40, 14, length=(100, 140))
    eps = Episodes.from_raw([RawEpisode(f"e{i}", a) for i, a in enumerate(arrays)])
    norm = Normalizer.fit(eps.actions)
    train = ChunkDataset(eps, chunk, normalizer=norm)
    data = PreparedChunks(train, None, norm, EmbodimentSlots.identity(14), eps)
    cfg.pretrain_data.chunk_length = chunk
    cfg.model.max_chunk_length = chunk
    cfg.optim.batch_size = 64
    cfg.train.device = "cpu"
    vae = build_vae(cfg, data)
    trainer = VAETrainer(vae, PretrainObjective(cfg.loss), data, cfg, Path("/tmp/vae-bench"),
                         "bench")
    torch.autograd.set_detect_anomaly(release_way)
    times = []
    for i in range(steps + 2):
        tic = time.perf_counter()
        trainer.train_step()
        trainer.step += 1
        if i >= 2:
            times.append(time.perf_counter() - tic)
    return {"step_s": float(np.median(times)),
            "samples_per_s": 64 / float(np.median(times)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "params_m": sum(p.numel() for p in vae.parameters()) / 1e6}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--presets", nargs="+", default=["cpu", "release-rdt"])
    p.add_argument("--chunks", nargs="+", type=int, default=[16, 64])
    p.add_argument("--worker", nargs=3, metavar=("PRESET", "CHUNK", "RELEASE_WAY"))
    args = p.parse_args()
    if args.worker:
        preset, chunk, way = args.worker
        print(json.dumps(measure(preset, int(chunk), args.steps, way == "1")))
        return
    print(f"# VAE training, batch 64, D=14, {args.steps} timed steps each; torch "
          f"{torch.__version__}, python {platform.python_version()}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'preset':12} {'chunk':>5} {'params M':>9} {'ours samples/s':>15} "
          f"{'release-way samples/s':>22} {'ratio':>6} {'peak RSS MB':>12}")
    for preset in args.presets:
        for chunk in args.chunks:
            rows = {}
            for way in ("0", "1") if preset.startswith("release") else ("0",):
                out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps),
                                      "--worker", preset, str(chunk), way],
                                     capture_output=True, text=True, check=True)
                rows[way] = json.loads(out.stdout.strip().splitlines()[-1])
            ours = rows["0"]
            rel = rows.get("1")
            rel_txt = f"{rel['samples_per_s']:22.1f}" if rel else f"{'-':>22}"
            ratio = f"{ours['samples_per_s'] / rel['samples_per_s']:5.2f}x" if rel else "     -"
            print(f"{preset:12} {chunk:5d} {ours['params_m']:9.2f} "
                  f"{ours['samples_per_s']:15.1f} {rel_txt} {ratio} {ours['peak_rss_mb']:12.0f}")


if __name__ == "__main__":
    main()
