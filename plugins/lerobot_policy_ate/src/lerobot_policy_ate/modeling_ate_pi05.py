"""LeRobot's PI05 trained with Steer folded into its flow-matching loss (``flow``)."""

from lerobot.policies.pi05.configuration_pi05 import PI05Config
from lerobot.policies.pi05.modeling_pi05 import PI05Policy

from lerobot_policy_ate.configuration_ate_pi05 import ATEPI05Config
from lerobot_policy_ate.flow import ATEFlowPolicy
from lerobot_policy_ate.steer import ATEPolicyMixin


class ATEPI05Policy(ATEFlowPolicy, ATEPolicyMixin, PI05Policy):
    """``PI05Policy`` with Steer in training, saved as a stock ``pi05`` checkpoint."""

    config_class = ATEPI05Config
    name = "ate_pi05"
    stock_config = PI05Config
