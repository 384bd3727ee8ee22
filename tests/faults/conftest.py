"""The fault suites drive the same Bolt app as tests/slack: share its fixtures here, once."""
from tests.slack.conftest import bot, database_url, fake, make_bot, settings, template_db  # noqa: F401
