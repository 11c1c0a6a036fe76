"""ATE variants of LeRobot's policies, registered when LeRobot imports its plugins
(``lerobot-train`` imports every installed ``lerobot_policy_*`` distribution):
``ate_diffusion``, ``ate_pi0``, ``ate_pi05``, ``ate_smolvla``."""

from lerobot_policy_ate.configuration_ate_diffusion import ATEDiffusionConfig
from lerobot_policy_ate.configuration_ate_pi0 import ATEPI0Config
from lerobot_policy_ate.configuration_ate_pi05 import ATEPI05Config
from lerobot_policy_ate.configuration_ate_smolvla import ATESmolVLAConfig

__all__ = ["ATEDiffusionConfig", "ATEPI0Config", "ATEPI05Config", "ATESmolVLAConfig"]
