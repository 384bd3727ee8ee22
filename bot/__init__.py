"""Recovery Coach: service-recovery coaching for support agents.

Flow: slack (in) -> classify -> coach (plan) -> render -> slack (out); playbook and storage beside it.
"""
