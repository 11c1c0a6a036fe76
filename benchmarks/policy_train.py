"""Training steps/s of both policy families at the sizes the benchmark suites use
(Meta-World: D=4, obs 39; robosuite: D=8, obs 32; chunk 16, batch 64), plain and guided,
so that the suites can budget their runs. With ``--devices cpu cuda`` (on a GPU machine) the
same steps run on each device and the table gains their ratio.

    python benchmarks/policy_train.py [--steps 10] [--devices cpu cuda] [--batch 64]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from ate.align.vae import ActionVAE, VAEConfig
from ate.data import EmbodimentSlots
from ate.policies import DiffusionPolicy, FlowPolicy, PolicyConfig
from ate.steer import GuidanceConfig, LatentGuidance

SUITES = {"metaworld": (4, 39, 45), "robosuite": (8, 32, 2)}  # action dim, obs dim, tasks


def steps_per_second(kind: str, dim: int, obs: int, tasks: int, guided: bool,
                     steps: int, device: str = "cpu", batch_size: int = 64) -> float:
    torch.manual_seed(0)
    cfg = PolicyConfig(kind=kind, action_dim=dim, chunk_length=16, obs_dim=obs,
                       obs_horizon=2, num_tasks=tasks)
    cls = DiffusionPolicy if kind == "diffusion" else FlowPolicy
    policy = cls(cfg, EmbodimentSlots.identity(dim))
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    guide = None
    if guided:
        vae = ActionVAE(VAEConfig(action_dim=dim, max_chunk_length=16, latent_dim=32,
                                  hidden_dim=64, num_layers=3, num_heads=4, ff_dim=128))
        guide = LatentGuidance(vae, GuidanceConfig()).to(device)
    policy.to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = []
    for i in range(steps + 2):
        b = batch_size
        batch = {"action": torch.randn(b, 16, dim), "obs": torch.randn(b, 2, obs),
                 "task": torch.randint(0, tasks, (b,))}
        batch = {k: v.to(device) for k, v in batch.items()}
        sync()
        tic = time.perf_counter()
        loss = policy.compute_loss(batch, guide)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        if i >= 2:
            times.append(time.perf_counter() - tic)
    return 1.0 / float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--devices", nargs="+", default=["cpu"], choices=["cpu", "cuda"])
    args = p.parse_args()
    gpu = torch.cuda.get_device_name() if "cuda" in args.devices else "no GPU"
    print(f"# policy training, batch {args.batch}, chunk 16, median of {args.steps} steps; "
          f"torch {torch.__version__}, python {platform.python_version()}, "
          f"{torch.get_num_threads()} CPU threads, {gpu}")
    print(f"{'suite':10} {'family':10} {'device':6} {'params M':>9} {'plain steps/s':>14} "
          f"{'guided steps/s':>15} {'guided/plain':>13} {'plain/1st':>10}")
    for suite, (dim, obs, tasks) in SUITES.items():
        for kind in ("diffusion", "flow"):
            cfg = PolicyConfig(kind=kind, action_dim=dim, obs_dim=obs, obs_horizon=2,
                               num_tasks=tasks)
            cls = DiffusionPolicy if kind == "diffusion" else FlowPolicy
            params = sum(q.numel() for q in cls(cfg, EmbodimentSlots.identity(dim))
                         .parameters()) / 1e6
            first = None
            for device in args.devices:
                plain, guided = (steps_per_second(kind, dim, obs, tasks, g, args.steps, device,
                                                  args.batch) for g in (False, True))
                first = first or plain
                print(f"{suite:10} {kind:10} {device:6} {params:9.2f} {plain:14.2f} "
                      f"{guided:15.2f} {guided / plain:12.2f}x {plain / first:9.2f}x")


if __name__ == "__main__":
    main()
