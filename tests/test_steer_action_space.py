"""Steer with no VAE (``guidance_from="action-space"``): g against the closed form
-2 (a_k - a0) / (B * H * D) on the target's slots, the release's reduction."""

from __future__ import annotations

import pytest
import torch

from ate.errors import ConfigError
from ate.steer.action_space import ACTION_SPACE
from ate.steer.guidance import LatentGuidance


def test_action_space_g_is_the_closed_form_on_the_target_slots() -> None:
    torch.manual_seed(0)
    B, H, U, slots = 4, 16, 3, [2, 0]
    clean = torch.randn(B, H, U)
    noisy = clean + 0.3 * torch.randn(B, H, U)
    steps = torch.ones(B, H, dtype=torch.bool)
    steps[1, 12:] = False  # a padded tail gets no guidance
    for latent in ("sample", "mean"):
        g = LatentGuidance.from_pretrained(ACTION_SPACE, slots=slots, latent=latent)
        out = g(noisy, clean, step_mask=steps)
        expected = torch.zeros_like(noisy)
        expected[..., slots] = (-2 * (noisy - clean)[..., slots] / (B * H * len(slots))
                                * steps.unsqueeze(-1))
        # "sample" adds and removes one shared noise: float32 rounding only
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-8)
        assert out[..., 1].abs().max() == 0  # outside the target's slots


def test_action_space_needs_the_slots() -> None:
    with pytest.raises(ConfigError, match="slots"):
        LatentGuidance.from_pretrained(ACTION_SPACE)


def test_the_bench_arm_guides_from_action_space(tmp_path) -> None:
    from ate.bench.config import SuiteConfig
    from ate.bench.suite import job_run
    from ate.data.config import SlotConfig

    run = job_run(SuiteConfig(arms=("direct", "action_space")), SlotConfig(), "action_space",
                  0, str(tmp_path / "out/metaworld/data/target/n5-s0"), "pre", "align", 300)
    assert run.guidance_from == ACTION_SPACE and run.init_from == "pre"
    assert run.guidance.sign == "paper"
