"""``--policy.type=ate_smolvla``: LeRobot's SmolVLA config with Steer's options."""

from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig

from lerobot_policy_ate.steer import ate_config

ATESmolVLAConfig = ate_config(SmolVLAConfig, "smolvla", __name__)
