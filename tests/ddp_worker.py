"""Run under torchrun by test_ddp: train a few steps on 2 CPU processes (gloo), then check
that every parameter is identical across processes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ate.align.objectives import PretrainObjective
from ate.align.stages import build_vae
from ate.align.trainer import VAETrainer
from ate.data import prepare_chunks
from tests.align_helpers import tiny_config


def main() -> None:
    pre, tgt, out = (Path(p) for p in sys.argv[1:4])
    mode = sys.argv[4] if len(sys.argv) > 4 else "vae"
    torch.set_num_threads(1)
    cfg = tiny_config(pre, tgt, max_steps=4, device="cpu")
    if mode == "vae":
        data = prepare_chunks(cfg.pretrain_data)
        trainer = VAETrainer(build_vae(cfg, data), PretrainObjective(cfg.loss), data, cfg, out,
                             "stage1")
    else:  # a flow policy, guided (``policy``) or with the latent consistency term
        from ate.finetune.config import PolicyRunConfig
        from ate.finetune.run import PolicyTrainer, build_policy
        from ate.policies import PolicyConfig
        from ate.steer import LatentGuidance
        from ate.steer.chunk_encoder import PolicyChunkEncoder
        from ate.steer.latent_loss import LatentLoss, LatentLossConfig

        run = PolicyRunConfig(data=cfg.target_data, optim=cfg.optim, train=cfg.train,
                              policy=PolicyConfig(kind="flow", width=16, layers=1, heads=2))
        data = prepare_chunks(run.data)
        guidance = LatentGuidance(build_vae(cfg, data)) if mode == "policy" else None
        latent = None if mode == "policy" else LatentLoss(
            PolicyChunkEncoder(build_vae(cfg, data)), LatentLossConfig(beta=1.0))
        trainer = PolicyTrainer(build_policy(run, data), guidance, data, run, out, "finetune",
                                latent)
    start = torch.cat([p.detach().flatten() for p in trainer.net.parameters()]).clone()
    result = trainer.fit()
    # each process's own live parameters: moved from the start, and equal across processes
    params = torch.cat([p.detach().flatten() for p in trainer.net.parameters()])
    assert not torch.equal(params, start)
    gathered = [torch.zeros(2, dtype=torch.float64) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, torch.tensor([params.double().sum(), float(result.step)],
                                           dtype=torch.float64))
    if dist.get_rank() == 0:
        sums = {float(g[0]) for g in gathered}
        print(f"RESULT world={dist.get_world_size()} steps={[int(g[1]) for g in gathered]} "
              f"in_sync={len(sums) == 1}", flush=True)
    dist.destroy_process_group()
    os._exit(0)  # gloo may abort at interpreter exit otherwise


if __name__ == "__main__":
    main()
