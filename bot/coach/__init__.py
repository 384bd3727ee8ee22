"""The recovery planner: classification + playbook + what is known of the customer -> RecoveryPlan."""
from bot.coach.models import (
    Classification,
    CompensationSuggestion,
    CustomerProfile,
    FollowUpItem,
    Prediction,
    RecoveryPlan,
    ThreadMessage,
)
from bot.coach.planner import plan_recovery

__all__ = [
    "Classification",
    "CompensationSuggestion",
    "CustomerProfile",
    "FollowUpItem",
    "Prediction",
    "RecoveryPlan",
    "ThreadMessage",
    "plan_recovery",
]
