"""Test harness in the spirit of Errbot's testbot: the real Bolt app over real HTTP on loopback, its Web
API pointed at the recording fake Slack, driven with signed requests."""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bot.classify.decisions import Thresholds
from bot.coach.models import Classification, Prediction
from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack.app import CoachApp, build_app
from bot.slack.driver import SlackDriver
from bot.slack.fake_api import FakeSlack
from bot.slack.resilience import build_web_client
from bot.slack.server import BackgroundServer, wsgi_app

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token-123"
CHANNEL = "CSUPPORT"
AGENTS = ["UAGENT1", "UAGENT2"]
CUSTOMER = "UCUST"
SUPERVISOR = "USUP"
ADMIN = "UADMIN"


def classification(tone: str = "neutral", complaint: str = "none", language: str = "en",
                   confidence: float = 0.9) -> Classification:
    return Classification(language=language, tone=Prediction(label=tone, confidence=confidence),
                          complaint=Prediction(label=complaint, confidence=confidence))


class FakeClassifier:
    """Deterministic stand-in for the model: the first rule whose keyword is in the text wins."""

    RULES: list[tuple[str, Classification]] = [
        ("idiot", classification("abusive", "staff_attitude")),
        ("charged twice", classification("angry", "billing")),
        ("still not here", classification("frustrated", "delivery")),
        ("где мой заказ", classification("angry", "delivery", "ru")),
        ("broken", classification("angry", "product_quality")),
    ]

    thresholds = Thresholds()  # the served classifier's defaults: stored labels are read back with them

    def __init__(self) -> None:
        self.calls = 0

    def classify(self, text: str) -> Classification:
        self.calls += 1
        lowered = text.lower()
        return next((c for key, c in self.RULES if key in lowered), classification())

    def classify_many(self, texts: list[str]) -> list[Classification]:
        return [self.classify(t) for t in texts]


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """One migrated SQLite file per session; each test gets a copy (migrating takes ~1 s)."""
    from bot.storage.store import SqlStore

    path = tmp_path_factory.mktemp("db") / "template.sqlite"
    store = SqlStore(f"sqlite:///{path}")
    store.migrate()
    store.close()
    return path


@pytest.fixture
def database_url(template_db: Path, tmp_path: Path) -> str:
    path = tmp_path / "coach.sqlite"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(database_url: str):
    from bot.storage.store import SqlStore

    store = SqlStore(database_url)
    yield store
    store.close()


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack(team_id="TOURS")
    for agent in AGENTS + [SUPERVISOR, ADMIN]:
        slack.add_user(agent)
    slack.add_user(CUSTOMER, team_id="TCUSTOMER")  # Slack Connect: another workspace
    slack.add_channel(CHANNEL, ["UBOT", *AGENTS, CUSTOMER])
    slack.start()
    yield slack
    slack.stop()


@pytest.fixture
def settings(fake: FakeSlack, database_url: str) -> Settings:
    return Settings(_env_file=None, slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=fake.api_url,
                    coach_admins=[ADMIN], coach_supervisors=[SUPERVISOR], coach_database_url=database_url,
                    coach_playbook_check_seconds=0)


@dataclass
class Bot:
    app: CoachApp
    server: BackgroundServer
    driver: SlackDriver
    fake: FakeSlack

    @property
    def services(self):
        return self.app.services


@pytest.fixture
def make_bot(fake: FakeSlack, settings: Settings, playbook) -> Iterator[Callable[..., Bot]]:
    """Start a bot (a 'worker'); call again for a second worker sharing the same database."""
    from bot.storage.store import SqlStore

    started: list[tuple[Bot, object]] = []

    def start(engine: RecoveryEngine | None = None, settings_: Settings | None = None) -> Bot:
        cfg = settings_ or settings
        store = SqlStore(cfg.coach_database_url)
        engine = engine or RecoveryEngine(cfg, classifier=FakeClassifier(), playbook=playbook)
        client = build_web_client(TOKEN, cfg.slack_api_url, backoff_factor=0.05)
        app = build_app(cfg, engine, store, client=client)
        server = BackgroundServer(wsgi_app(app.bolt, app.ready)).start()
        bot = Bot(app, server, SlackDriver(server.url, SECRET, fake), fake)
        started.append((bot, store))
        return bot

    yield start
    for bot, store in started:
        bot.server.stop()
        bot.app.close()
        store.close()  # type: ignore[attr-defined]


@pytest.fixture
def bot(make_bot) -> Bot:
    return make_bot()


def wait_for_value(condition, timeout: float = 5.0):
    """Poll `condition` until it returns something truthy (work after a 200 runs in the background); its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


def card_for(fake: FakeSlack, agent: str, count: int = 1, timeout: float = 10.0):
    """The latest coaching card sent to `agent` (waits for `count` cards)."""
    calls = fake.wait_for("chat.postEphemeral", count=count, timeout=timeout, user=agent,
                          where=lambda c: bool(c.args.get("blocks")))
    return calls[-1]
