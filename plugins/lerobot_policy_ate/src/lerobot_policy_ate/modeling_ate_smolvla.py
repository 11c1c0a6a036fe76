"""LeRobot's SmolVLA trained with Steer folded into its flow-matching loss (``flow``)."""

from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

from lerobot_policy_ate.configuration_ate_smolvla import ATESmolVLAConfig
from lerobot_policy_ate.flow import ATEFlowPolicy
from lerobot_policy_ate.steer import ATEPolicyMixin


class ATESmolVLAPolicy(ATEFlowPolicy, ATEPolicyMixin, SmolVLAPolicy):
    """``SmolVLAPolicy`` with Steer in training, saved as a stock ``smolvla`` checkpoint."""

    config_class = ATESmolVLAConfig
    name = "ate_smolvla"
    stock_config = SmolVLAConfig
