"""``ate demo``: the main job on a built-in default.

It runs, for real: synthetic demos of a pre-training robot and a target robot of another
action dim, written in two on-disk formats and read back; both Align stages and the
single-stage ablation on a CPU-sized VAE; the alignment report with its plots; a flow policy
pre-trained on the first robot and fine-tuned on the second directly and with Steer,
compared on held-out chunks. It then says plainly what is not built yet (simulator rollouts).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ate.align.config import AdaptConfig, AlignConfig, ModelConfig, OptimConfig, TrainConfig
from ate.align.losses import mmd
from ate.commands.align import align_run
from ate.commands.data import write_dataset
from ate.data.config import DataConfig, SlotConfig
from ate.data.episodes import Episodes, RawEpisode
from ate.data.load import load_episodes
from ate.data.prepare import prepare_chunks
from ate.data.synthetic import synthetic_episodes
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import train_policy
from ate.policies import GenerativePolicy, PolicyConfig
from ate.steer import GuidanceConfig

# (name, action dim, format on disk, role)
ROBOTS = (("arm7", 7, "hdf5", "pre-training"), ("arm5", 5, "lerobot", "target"))
PENDING = (
    ("evaluate", "Meta-World / robosuite rollouts, success-rate table and plots", "issue 6"),
)


def demo_config(pretrain: Path, target: Path, out: Path, epochs: int, seed: int
                ) -> AlignConfig:
    """``configs/align/cpu.yaml`` in code (the demo runs from an installed package too)."""
    data = DataConfig(chunk_length=16, val_fraction=0.1, split_seed=seed)
    return AlignConfig(
        pretrain_data=replace(data, path=str(pretrain)),
        target_data=replace(data, path=str(target)),
        model=ModelConfig(latent_dim=32, hidden_dim=64, num_layers=3, num_heads=4, ff_dim=128),
        optim=OptimConfig(lr=1e-3, batch_size=64),
        adapt=AdaptConfig(kl_weight=1e-2),
        train=TrainConfig(epochs=epochs, val_every=100, save_every=100, seed=seed),
        out=str(out),
    )


def policy_config(data: DataConfig, seed: int, epochs: int) -> PolicyRunConfig:
    """A small pi0-style flow policy over 7 unified slots."""
    return PolicyRunConfig(
        data=replace(data, slots=SlotConfig(layout="pad", size=7)),
        policy=PolicyConfig(kind="flow", width=64, layers=2, heads=4, inference_steps=10),
        optim=OptimConfig(lr=1e-3, lr_decay=1.0, batch_size=64),
        train=TrainConfig(epochs=epochs, val_every=50, save_every=100, seed=seed))


def steer_demo(console: Console, pretrain: Path, target: Path, root: Path, epochs: int,
               seed: int) -> None:
    """Pre-train a flow policy on the pre-training robot, fine-tune it on the target directly
    and with the Steer guidance, and compare the two on held-out target chunks."""
    data = DataConfig(chunk_length=16, val_fraction=0.1, split_seed=seed)
    folder = root / "policy"
    shutil.rmtree(folder, ignore_errors=True)
    tic = time.perf_counter()
    train_policy(policy_config(replace(data, path=str(pretrain)), seed, epochs), folder / "pre")
    rows = []
    target_cfg = policy_config(replace(data, path=str(target)), seed, epochs)
    held_out = held_out_chunks(target_cfg.data)
    # tau >= 0.05 bounds pi0's t / (1 - t) factor at 19: with the library default floor
    # (1e-3, up to 999) this demo's ATE run fell behind direct fine-tuning (closing note of
    # the policies issue); the simulator suites decide the default.
    steer = GuidanceConfig(lam=2.0, clamp=0.1, sign="paper", floor=0.05)
    for name, guidance in (("direct fine-tuning", ""), ("ATE (paper sign)", "stage2")):
        run = replace(target_cfg, init_from=str(folder / "pre"), guidance=steer,
                      guidance_from=str(root / "align" / guidance) if guidance else "")
        start = time.perf_counter()
        result = train_policy(run, folder / name.split()[0].lower())
        policy = GenerativePolicy.from_pretrained(result.best)
        gen = torch.Generator().manual_seed(seed)
        chunks = policy.act(batch=len(held_out), generator=gen)
        flat = (chunks.flatten(1) - held_out.flatten(1).mean(0)) / held_out.flatten(1).std(0)
        ref = (held_out.flatten(1) - held_out.flatten(1).mean(0)) / held_out.flatten(1).std(0)
        rows.append((name, f"{result.best_val:.4f}", f"{float(mmd(flat, ref, unbiased=True)):.2e}",
                     f"{time.perf_counter() - start:.0f}"))
    table = Table(title="steer: flow policy pre-trained on arm7, fine-tuned on arm5; ATE with "
                        "lambda 2, clamp 0.1, tau >= 0.05 (offline proxy, not task success)")
    for col in ("arm", "val loss (plain, EMA)", "MMD to held-out chunks", "train s"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"policies: pre-training and both fine-tunings in "
                  f"{time.perf_counter() - tic:.0f} s; checkpoints in {folder}. Lower is "
                  "better in both columns; one seed, synthetic robots: not evidence of task "
                  "success (the simulator suites measure that).")


def held_out_chunks(data: DataConfig) -> torch.Tensor:
    """The target's validation chunks in data units, (N, H, D)."""
    prepared = prepare_chunks(data)
    assert prepared.val is not None
    batch = prepared.val.__getitems__(list(range(len(prepared.val))))
    real = prepared.slots.extract(batch["action"]).double()
    return torch.as_tensor(prepared.normalizer.inverse(real.numpy()), dtype=torch.float32)


def demo(out: str = "runs/demo", episodes: int = 40, epochs: int = 10, seed: int = 0) -> None:
    """Run the pipeline on built-in synthetic robots; stages not yet built are listed.

    Args:
        out: working folder: out/data (reused when present) and out/align (rewritten).
        episodes: demos per robot.
        epochs: training epochs of each VAE stage.
        seed: seed of the data, the splits and the training.
    """
    console = Console()
    root = Path(out)
    paths = []
    table = Table(title="ate demo: data")
    for col in ("robot", "role", "format on disk", "D", "episodes", "steps"):
        table.add_column(col)
    for i, (name, dim, fmt, role) in enumerate(ROBOTS):
        path = root / "data" / name
        if not path.exists():
            arrays = synthetic_episodes(episodes, dim, embodiment_seed=i, seed=seed + i)
            raw = [RawEpisode(f"{name}_{j}", a) for j, a in enumerate(arrays)]
            write_dataset(Episodes.from_raw(raw), path, fmt)  # type: ignore[arg-type]
        eps = load_episodes(path)
        table.add_row(name, role, eps.format, str(eps.dim), str(len(eps)), str(eps.num_steps))
        paths.append(path)
    console.print(table)
    shutil.rmtree(root / "align", ignore_errors=True)  # the demo's own output, rewritten
    tic = time.perf_counter()
    align_run(demo_config(paths[0], paths[1], root / "align", epochs, seed), single_stage=True)
    console.print(f"align: both stages, the single-stage ablation and the report in "
                  f"{time.perf_counter() - tic:.0f} s")
    steer_demo(console, paths[0], paths[1], root, epochs, seed)
    pending = Table(title="not built yet (no results are shown for these)")
    for col in ("stage", "what", "tracked in"):
        pending.add_column(col)
    for row in PENDING:
        pending.add_row(*row)
    console.print(pending)
