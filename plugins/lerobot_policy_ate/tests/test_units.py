"""LeRobot's action normalisation, every mode, as ``ate``'s affine map: the guidance sees
the stage-2 VAE's units through it (chain rule included)."""

from __future__ import annotations

import pytest
import torch
from conftest import D, stats
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.processor.normalize_processor import NormalizerProcessorStep
from lerobot_policy_ate.steer import lerobot_normalizer


@pytest.mark.parametrize("mode", ["MEAN_STD", "MIN_MAX", "QUANTILES", "QUANTILE10",
                                  "IDENTITY"])
def test_lerobot_normalisation_is_the_affine_map(mode) -> None:
    s = stats()
    step = NormalizerProcessorStep(
        features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(D,))},
        norm_map={FeatureType.ACTION: NormalizationMode(mode)}, stats=s)
    x = torch.randn(7, D, dtype=torch.float32) * 2 + 0.5
    theirs = step._normalize_action(x, inverse=False)
    ours = lerobot_normalizer(s["action"], mode, D)
    mine = (x.double() - torch.as_tensor(ours.offset)) / torch.as_tensor(ours.scale)
    torch.testing.assert_close(mine.float(), theirs, rtol=1e-5, atol=1e-5)
