"""`coach`: the command line of Recovery Coach. One module per area; importing them registers the commands."""
from bot.cli import config_cmds, customer_cmds, engine_cmds, model_cmds, slack_cmds, store_cmds  # noqa: F401
from bot.cli.common import app

__all__ = ["app"]
