"""ATE variants of LeRobot's policies, registered when LeRobot imports its plugins
(``lerobot-train`` imports every installed ``lerobot_policy_*`` distribution)."""

from lerobot_policy_ate.configuration_ate_diffusion import ATEDiffusionConfig

__all__ = ["ATEDiffusionConfig"]
