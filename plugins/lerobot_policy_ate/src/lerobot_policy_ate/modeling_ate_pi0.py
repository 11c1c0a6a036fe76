"""LeRobot's PI0 trained with Steer folded into its flow-matching loss (``flow``)."""

from lerobot.policies.pi0.configuration_pi0 import PI0Config
from lerobot.policies.pi0.modeling_pi0 import PI0Policy

from lerobot_policy_ate.configuration_ate_pi0 import ATEPI0Config
from lerobot_policy_ate.flow import ATEFlowPolicy
from lerobot_policy_ate.steer import ATEPolicyMixin


class ATEPI0Policy(ATEFlowPolicy, ATEPolicyMixin, PI0Policy):
    """``PI0Policy`` with Steer in training, saved as a stock ``pi0`` checkpoint."""

    config_class = ATEPI0Config
    name = "ate_pi0"
    stock_config = PI0Config
