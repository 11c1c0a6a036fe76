"""Steer's displacement in the LeRobot Diffusion Policy comparison (docs/results.md,
"LeRobot's Diffusion Policy"): ``ate.steer.shift.measure_shift`` with LeRobot's noising of
that run (epsilon, 100-step squared-cosine DDPM, uniform timesteps, batch 64), on each seed's
converted subset in LeRobot's MIN_MAX action units, with the release preset at lambda 2 and
the bench's stage-2 VAE, as ``ate_diffusion`` trained. No LeRobot import needed.

    python docs/results/lerobot_shift.py runs/bench-mw runs/lerobot-mw [--n 5]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import DDPMScheduler

from ate.data.config import DataConfig
from ate.data.prepare import prepare_chunks
from ate.steer import LatentGuidance
from ate.steer.shift import measure_shift


class LeRobotDDPM:
    """LeRobot DiffusionModel.compute_loss's noising, as a ``NoisingPolicy``."""

    family = "epsilon"

    def __init__(self, steps: int = 100) -> None:
        self.abar = DDPMScheduler(num_train_timesteps=steps,
                                  beta_schedule="squaredcos_cap_v2").alphas_cumprod

    def corrupt(self, a0: torch.Tensor, generator: torch.Generator | None):
        noise = torch.randn(a0.shape, generator=generator)
        t = torch.randint(0, len(self.abar), (len(a0),), generator=generator)
        abar = self.abar[t].view(-1, 1, 1)
        return abar.sqrt() * a0 + (1 - abar).sqrt() * noise, t, noise, self.abar[t]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench", type=Path)
    p.add_argument("lerobot", type=Path)
    p.add_argument("--n", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--lam", type=float, default=2.0)
    args = p.parse_args()
    torch.set_num_threads(1)
    for seed in args.seeds:
        # LeRobot's MIN_MAX over the dataset is ate's minmax over an unsplit dataset
        data = prepare_chunks(DataConfig(path=str(args.lerobot / "data" / f"n{args.n}-s{seed}"),
                                         chunk_length=16, obs_horizon=0, val_fraction=0.0,
                                         normalizer="minmax"))
        stage2 = next((args.bench / "metaworld").glob(f"align*/n{args.n}-s{seed}/stage2"))
        guidance = LatentGuidance.from_pretrained(
            stage2, slots=list(data.slots.indices), policy_normalizer=data.normalizer,
            preset="release", lam=args.lam)
        report = measure_shift(LeRobotDDPM(), guidance, data.train, batch_size=64, seed=seed)
        bands = " / ".join("-" if r is None else f"{100 * r:.1f}%"
                           for r in report.ratio_by_noise)
        print(f"seed {seed}: displacement {100 * report.ratio:.1f}% of the actions' RMS "
              f"(cos {report.noise_cosine:+.2f} with noisy - clean; by noise level, clean "
              f"end first: {bands}; clamp binding on {100 * report.clamped_fraction:.0f}%)")


if __name__ == "__main__":
    main()
