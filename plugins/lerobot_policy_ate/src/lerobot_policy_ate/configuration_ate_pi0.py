"""``--policy.type=ate_pi0``: LeRobot's pi0 config with Steer's options."""

from lerobot.policies.pi0.configuration_pi0 import PI0Config

from lerobot_policy_ate.steer import ate_config

ATEPI0Config = ate_config(PI0Config, "pi0", __name__)
