"""``lerobot-train --policy.type=ate_diffusion`` and ``ate_smolvla`` end to end on a local
dataset, and the checkpoint it writes loaded by stock LeRobot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import D, E, S, write_stage2


def make_dataset(root: Path, episodes: int = 3, frames: int = 40, image: bool = False
                 ) -> Path:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.state": {"dtype": "float32", "shape": (S,), "names": None},
        "observation.environment_state": {"dtype": "float32", "shape": (E,), "names": None},
        "action": {"dtype": "float32", "shape": (D,), "names": None},
    }
    if image:
        features["observation.images.cam"] = {"dtype": "image", "shape": (32, 32, 3),
                                              "names": ["height", "width", "channels"]}
    ds = LeRobotDataset.create(repo_id="local/ate_test", fps=10, features=features,
                               root=root, use_videos=False)
    rng = np.random.default_rng(0)
    for _ in range(episodes):
        for t in range(frames):
            frame = {"observation.state": rng.normal(size=S).astype(np.float32),
                     "observation.environment_state": rng.normal(size=E).astype(np.float32),
                     "action": np.sin(0.1 * t + np.arange(D)).astype(np.float32),
                     "task": "reach"}
            if image:
                frame["observation.images.cam"] = rng.integers(0, 255, (32, 32, 3),
                                                               dtype=np.uint8)
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    return root


def train(args: list[str], out: Path) -> Path:
    """Run lerobot-train; return the checkpoint's pretrained_model folder."""
    command = [str(Path(sys.executable).with_name("lerobot-train")), *args,
               "--policy.device=cpu", "--policy.push_to_hub=false", "--steps=3",
               "--batch_size=4", "--save_freq=3", "--log_freq=1", "--num_workers=0",
               "--wandb.enable=false", f"--output_dir={out}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return next(out.glob("checkpoints/*/pretrained_model"))


def test_lerobot_train_with_ate_diffusion_writes_a_stock_checkpoint(tmp_path) -> None:
    data = make_dataset(tmp_path / "dataset")
    stage2 = write_stage2(tmp_path / "stage2")
    ckpt = train(["--dataset.repo_id=local/ate_test", f"--dataset.root={data}",
                  "--policy.type=ate_diffusion", f"--policy.ate.guidance_path={stage2}",
                  "--policy.ate.lam=2.0", "--policy.horizon=16", "--policy.n_action_steps=8",
                  "--policy.down_dims=[16,32]", "--policy.diffusion_step_embed_dim=16",
                  "--policy.n_groups=4", "--policy.pretrained_backbone_weights=null"],
                 tmp_path / "train")
    config = json.loads((ckpt / "config.json").read_text())
    assert config["type"] == "diffusion" and "ate" not in config
    train_config = json.loads((ckpt / "train_config.json").read_text())
    assert train_config["policy"]["type"] == "ate_diffusion"  # resume keeps the guidance
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy

    policy = DiffusionPolicy.from_pretrained(ckpt)
    assert type(policy) is DiffusionPolicy
    assert not any("vae" in k or "guid" in k for k in policy.state_dict())


def test_lerobot_train_with_ate_smolvla_and_a_tiny_local_vlm(tmp_path) -> None:
    from tiny_pi import write_tiny_vlm

    data = make_dataset(tmp_path / "dataset", image=True)
    stage2 = write_stage2(tmp_path / "stage2")
    vlm = write_tiny_vlm(tmp_path / "vlm")
    ckpt = train(["--dataset.repo_id=local/ate_test", f"--dataset.root={data}",
                  "--policy.type=ate_smolvla", f"--policy.ate.guidance_path={stage2}",
                  f"--policy.vlm_model_name={vlm}", "--policy.load_vlm_weights=false",
                  "--policy.num_vlm_layers=2", "--policy.num_expert_layers=1",
                  "--policy.chunk_size=16", "--policy.n_action_steps=8",
                  "--policy.resize_imgs_with_padding=[32,32]"], tmp_path / "train")
    config = json.loads((ckpt / "config.json").read_text())
    assert config["type"] == "smolvla" and "ate" not in config
    from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

    assert type(SmolVLAPolicy.from_pretrained(ckpt)) is SmolVLAPolicy
