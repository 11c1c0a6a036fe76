"""Training steps/s of both policy families at the sizes the benchmark suites use
(Meta-World: D=4, obs 39; robosuite: D=8, obs 32; chunk 16, batch 64), plain and guided,
so that the suites can budget their runs.

    python benchmarks/policy_train.py [--steps 10]
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
                     steps: int) -> float:
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
        guide = LatentGuidance(vae, GuidanceConfig())
    times = []
    for i in range(steps + 2):
        batch = {"action": torch.randn(64, 16, dim), "obs": torch.randn(64, 2, obs),
                 "task": torch.randint(0, tasks, (64,))}
        tic = time.perf_counter()
        loss = policy.compute_loss(batch, guide)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - tic)
    return 1.0 / float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    print(f"# policy training, batch 64, chunk 16, median of {args.steps} steps; torch "
          f"{torch.__version__}, python {platform.python_version()}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'suite':10} {'family':10} {'params M':>9} {'plain steps/s':>14} "
          f"{'guided steps/s':>15} {'guided/plain':>13}")
    for suite, (dim, obs, tasks) in SUITES.items():
        for kind in ("diffusion", "flow"):
            cfg = PolicyConfig(kind=kind, action_dim=dim, obs_dim=obs, obs_horizon=2,
                               num_tasks=tasks)
            cls = DiffusionPolicy if kind == "diffusion" else FlowPolicy
            params = sum(q.numel() for q in cls(cfg, EmbodimentSlots.identity(dim))
                         .parameters()) / 1e6
            plain = steps_per_second(kind, dim, obs, tasks, False, args.steps)
            guided = steps_per_second(kind, dim, obs, tasks, True, args.steps)
            print(f"{suite:10} {kind:10} {params:9.2f} {plain:14.2f} {guided:15.2f} "
                  f"{guided / plain:12.2f}x")


if __name__ == "__main__":
    main()
