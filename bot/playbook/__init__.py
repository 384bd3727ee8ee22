"""The company's service-recovery playbook: schema, loading with line-accurate errors."""
from bot.playbook.loader import PlaybookError, load_playbook, parse_playbook
from bot.playbook.schema import Playbook

__all__ = ["Playbook", "PlaybookError", "load_playbook", "parse_playbook"]
