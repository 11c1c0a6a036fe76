"""``--policy.type=ate_pi05``: LeRobot's pi0.5 config with Steer's options."""

from lerobot.policies.pi05.configuration_pi05 import PI05Config

from lerobot_policy_ate.steer import ate_config

ATEPI05Config = ate_config(PI05Config, "pi05", __name__)
