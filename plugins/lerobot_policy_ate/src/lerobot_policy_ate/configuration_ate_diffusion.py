"""``--policy.type=ate_diffusion``: LeRobot's Diffusion Policy config with Steer's options
(epsilon and sample prediction are both guided, each in its own family's form)."""

from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

from lerobot_policy_ate.steer import ate_config

ATEDiffusionConfig = ate_config(DiffusionConfig, "diffusion", __name__)
