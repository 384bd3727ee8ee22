"""How a RecoveryPlan is shown: terminal card (CLI/sandbox) and Block Kit (Slack)."""
