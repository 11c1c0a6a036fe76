"""On a CUDA machine: Steer, the policies and a guided fine-tuning run on the GPU agree with
the CPU and leave checkpoints a CPU-only machine reads. Those tests skip where torch sees no
GPU (CI); run them on one with ``python -m pytest tests/test_cuda.py`` (or the whole check,
``bash benchmarks/cuda_check.sh``). The device choice's errors are checked everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ate.align.vae import ActionVAE, VAEConfig
from ate.cli import main
from ate.config import from_dict
from ate.data import EmbodimentSlots, Normalizer, load_episodes, write_hdf5_episodes
from ate.data.synthetic import synthetic_episodes
from ate.errors import ConfigError
from ate.finetune.config import PolicyRunConfig
from ate.finetune.run import train_policy
from ate.policies import DiffusionPolicy, FlowPolicy, GenerativePolicy, PolicyConfig
from ate.steer import GuidanceConfig, LatentGuidance
from ate.training.trainer import choose_device

from .test_finetune import COMMON

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")



@pytest.fixture()
def full_precision():
    """TF32 (cuDNN's default for convolutions) rounds to 10 mantissa bits; parity is checked
    in full float32."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def tiny_vae(dim: int = 4) -> ActionVAE:
    torch.manual_seed(0)
    return ActionVAE(VAEConfig(action_dim=dim, max_chunk_length=8, latent_dim=8, hidden_dim=16,
                               num_layers=3, num_heads=2, ff_dim=32))


@needs_cuda
@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("distance", ["sum", "batch_mean"])
def test_guidance_and_guided_loss_on_cuda_match_the_cpu(distance) -> None:
    guide = LatentGuidance(tiny_vae(), GuidanceConfig(latent="mean", distance=distance,
                                                      clamp=0.1), slots=[0, 1, 2, 3])
    gen = torch.Generator().manual_seed(1)
    noisy, clean, pred, target = (torch.randn(16, 8, 4, generator=gen) for _ in range(4))
    time = torch.rand(16, generator=gen)
    g_cpu = guide(noisy, clean)
    loss_cpu = guide.loss("flow_pi0", pred, target, g_cpu, time)
    guide.to("cuda")
    cuda = [t.cuda() for t in (noisy, clean, pred, target, time)]
    g_gpu = guide(*cuda[:2])
    assert g_gpu.device.type == "cuda"
    # float32 kernels reduce in another order on the GPU: measured on an H200, the largest
    # difference was 7e-5 of max |g|; a wrong mask, sign or device would be O(1)
    torch.testing.assert_close(g_gpu.cpu(), g_cpu, rtol=1e-3, atol=5e-4 * g_cpu.abs().max())
    loss_gpu = guide.loss("flow_pi0", cuda[2], cuda[3], g_gpu, cuda[4])
    torch.testing.assert_close(loss_gpu.cpu(), loss_cpu, rtol=1e-5, atol=0.0)


@needs_cuda
@pytest.mark.usefixtures("full_precision")
@pytest.mark.parametrize("kind", ["diffusion", "flow"])
def test_policy_networks_and_acting_on_cuda(kind) -> None:
    torch.manual_seed(0)
    cfg = PolicyConfig(kind=kind, action_dim=4, chunk_length=8, obs_dim=5, obs_horizon=2,
                       num_tasks=3, down_dims=(16, 32), width=32, layers=2, inference_steps=3)
    cls = DiffusionPolicy if kind == "diffusion" else FlowPolicy
    obs = torch.randn(6, 2, 5)
    policy = cls(cfg, EmbodimentSlots.identity(4), Normalizer.fit(torch.randn(50, 4).numpy()),
                 Normalizer.fit(obs.flatten(0, 1).numpy())).eval()
    noisy, t, task = torch.randn(6, 8, 4), torch.rand(6), torch.tensor([0, 1, 2, 0, 1, 2])
    cond = policy.cond(policy.obs_normalizer.transform(obs), task)
    with torch.no_grad():
        expected = policy.predict(noisy, t, cond)
        policy.to("cuda")
        cond = policy.cond(policy.obs_normalizer.transform(obs.cuda()), task.cuda())
        got = policy.predict(noisy.cuda(), t.cuda(), cond)
    # the flow policy's attention differed by up to 1.4e-4 on an H200 (outputs are O(1))
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-3, atol=1e-3)
    # acting from GPU observations returns real units on the GPU
    chunks = policy.act(obs=obs.cuda(), task=task.cuda(),
                        generator=torch.Generator("cuda").manual_seed(0))
    assert chunks.device.type == "cuda" and chunks.shape == (6, 8, 4)
    assert torch.isfinite(chunks).all()


@needs_cuda
@pytest.mark.usefixtures("full_precision")
def test_guided_finetuning_on_cuda_resumes_and_loads_on_a_cpu(tmp_path: Path) -> None:
    """Pre-training and guided fine-tuning on the GPU write checkpoints whose tensors load on
    a CPU (no device baked in) and compute there what the GPU copy computes; a run cut at
    step 2 and resumed on the GPU ends where an uninterrupted one does."""
    write_hdf5_episodes(tmp_path / "pre", synthetic_episodes(10, 6, length=(20, 30)),
                        tasks=["reach", "push"] * 5)
    write_hdf5_episodes(tmp_path / "tgt", synthetic_episodes(6, 4, length=(20, 30),
                                                             embodiment_seed=3))
    tiny_vae().save_pretrained(tmp_path / "stage2/best", {"slots": {"indices": [0, 1, 2, 3],
                                                                    "size": 4}})
    Normalizer.fit(load_episodes(tmp_path / "tgt").actions).save(
        tmp_path / "stage2/best/normalizer.json")
    common = [*COMMON, "--train.device", "cuda"]
    assert main(["policy", "pretrain", "--data", str(tmp_path / "pre"), "--policy", "flow",
                 "--out", str(tmp_path / "pretrained"), *common]) == 0
    assert main(["finetune", "--policy", str(tmp_path / "pretrained"), "--data",
                 str(tmp_path / "tgt"), *common, "--guidance", str(tmp_path / "stage2"),
                 "--lam", "2", "--clamp", "0.1", "--out", str(tmp_path / "full")]) == 0
    saved = json.loads((tmp_path / "full/last/config.json").read_text())["run"]
    assert saved["train"]["device"] == "cuda"
    config = from_dict(PolicyRunConfig, saved)
    assert train_policy(config, tmp_path / "cut", until_step=2).step == 2
    assert train_policy(config, tmp_path / "cut", resume=tmp_path / "cut").step == 6
    full = GenerativePolicy.from_pretrained(tmp_path / "full/last")
    cut = GenerativePolicy.from_pretrained(tmp_path / "cut/last")
    for (name, a), b in zip(full.state_dict().items(), cut.state_dict().values(), strict=True):
        assert a.device.type == "cpu"
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=name)
    gen = torch.Generator().manual_seed(0)
    noisy, t, task = torch.randn(2, 8, full.config.action_dim, generator=gen), \
        torch.rand(2, generator=gen), torch.tensor([0, 1])
    with torch.no_grad():
        expected = full.predict(noisy, t, full.cond(None, task))
        full.to("cuda")
        got = full.predict(noisy.cuda(), t.cuda(), full.cond(None, task.cuda()))
    torch.testing.assert_close(got.cpu(), expected, rtol=1e-3, atol=1e-3)


def test_asking_for_cuda_where_there_is_none_or_too_little_is_one_clear_error(monkeypatch
                                                                               ) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert choose_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"sees no CUDA device.*--train\.device cpu"):
        choose_device("cuda")
    # torchrun with more processes than GPUs: rank 1 of a one-GPU machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    for name in ("auto", "cuda"):
        with pytest.raises(ConfigError, match=r"LOCAL_RANK is 1 but 1 CUDA.*nproc-per-node 1"):
            choose_device(name)
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert choose_device("auto") == torch.device("cuda", 0)
