"""``--policy.type=ate_diffusion``: LeRobot's Diffusion Policy config with Steer's options."""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot.configs.policies import PreTrainedConfig
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

from lerobot_policy_ate.steer import SteerOptions, take_base_fields


@PreTrainedConfig.register_subclass("ate_diffusion")
@dataclass
class ATEDiffusionConfig(DiffusionConfig):
    """Every ``DiffusionConfig`` field, plus ``ate`` (``--policy.ate.guidance_path`` and the
    guidance options; see ``SteerOptions``). Epsilon and sample (x0) prediction are both
    guided, in their own family's form."""

    ate: SteerOptions = field(default_factory=SteerOptions)

    def __post_init__(self) -> None:
        if self.ate.init_from:
            take_base_fields(self, DiffusionConfig, "diffusion")
        super().__post_init__()
