"""The company's service-recovery playbook: schema, safe loading with line-accurate errors."""
from bot.playbook.loader import PlaybookError, decode_playbook, load_playbook, parse_playbook
from bot.playbook.safe_yaml import MAX_BYTES as MAX_PLAYBOOK_BYTES
from bot.playbook.schema import Playbook

__all__ = ["MAX_PLAYBOOK_BYTES", "Playbook", "PlaybookError", "decode_playbook", "load_playbook", "parse_playbook"]
