"""The fault suites drive the same Bolt app as tests/slack: share its fixtures here, once."""
import pytest

from bot.settings import Settings
from bot.slack.fake_api import FakeSlack
from tests.slack.conftest import ADMIN, SECRET, SUPERVISOR, TOKEN
from tests.slack.conftest import bot, database_url, fake, make_bot, template_db  # noqa: F401


@pytest.fixture
def settings(fake: FakeSlack, database_url: str) -> Settings:
    """tests/slack's settings with COACH_CARD_MODE=every_message: these suites count one card per customer
    message, "Hello" included, to measure delivery and privacy (the per-thread cards are tests/slack's)."""
    return Settings(_env_file=None, slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=fake.api_url,
                    coach_admins=[ADMIN], coach_supervisors=[SUPERVISOR], coach_database_url=database_url,
                    coach_playbook_check_seconds=0, coach_card_mode="every_message")
