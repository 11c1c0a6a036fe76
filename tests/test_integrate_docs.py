"""Every snippet of docs/integrate.md runs as written (on tiny stand-ins)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
import torch

from ate.align.vae import ActionVAE, VAEConfig
from ate.data import Normalizer

DOC = Path(__file__).parent.parent / "docs" / "integrate.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


class _StandInDiffusionModel(torch.nn.Module):
    """LeRobot's DiffusionModel attribute names, with tiny parts."""

    def __init__(self) -> None:
        super().__init__()
        from diffusers import DDPMScheduler

        self.config = types.SimpleNamespace(prediction_type="epsilon",
                                            do_mask_loss_for_padding=True)
        self.noise_scheduler = DDPMScheduler(num_train_timesteps=100,
                                             beta_schedule="squaredcos_cap_v2")
        self.net = torch.nn.Linear(14, 14)

    def _prepare_global_conditioning(self, batch):
        return torch.zeros(len(batch["action"]), 1)

    def unet(self, x, timesteps, global_cond=None):
        return self.net(x)


@pytest.fixture
def stage2(tmp_path, monkeypatch):
    torch.manual_seed(0)
    vae = ActionVAE(VAEConfig(action_dim=14, max_chunk_length=16, latent_dim=8, hidden_dim=16,
                              num_layers=3, num_heads=2, ff_dim=32))
    vae.save_pretrained(tmp_path / "runs/align/stage2/best",
                        {"slots": {"indices": list(range(14)), "size": 14}})
    Normalizer.fit(torch.randn(50, 14).numpy()).save(
        tmp_path / "runs/align/stage2/best/normalizer.json")
    module = types.ModuleType("lerobot.policies.diffusion.modeling_diffusion")
    module.DiffusionModel = _StandInDiffusionModel
    for name in ("lerobot", "lerobot.policies", "lerobot.policies.diffusion"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.chdir(tmp_path)


def test_the_page_has_the_five_integrations() -> None:
    assert len(SNIPPETS) == 5


@pytest.mark.parametrize("index", range(5))
def test_snippet_runs(stage2, index) -> None:
    namespace: dict[str, object] = {}
    exec(compile(SNIPPETS[index], f"{DOC}#snippet{index}", "exec"), namespace)
    loss = namespace["loss"]
    assert isinstance(loss, torch.Tensor) and torch.isfinite(loss)
