"""Per-workspace configuration end to end (issue 11, item 2): two installed workspaces, two gunicorn-like workers on
one database. Workspace A's admin uploads a playbook and sets roles and a coach channel; workspace B keeps the
defaults; each one's events are planned from its own playbook and sent with its own token; B's admin sees none of
A's incidents, stats or playbook through /recover or App Home; A's non-admin changes nothing."""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.driver import SlackDriver
from bot.slack.resilience import build_web_client
from bot.slack.server import BackgroundServer, wsgi_app
from bot.slack.workspace_config import ConfigCache
from tests.slack.conftest import SECRET, FakeClassifier
from tests.slack.test_oauth import AGENT, CHANNEL, CLIENT_ID, CLIENT_SECRET, CUSTOMER, TOKENS, MultiBot, \
    WorkspacesFake, customer_says, event, install

ADMIN = {"TA": "UADMINA", "TB": "UADMINB"}
COACH_A = "CCOACHA"
VIEW_IDS = itertools.count(1)  # each form submission is a new one (a replayed one is handled once)


@dataclass
class Workers:
    one: MultiBot
    two: MultiBot


@pytest.fixture
def workers(database_url, playbook) -> Iterator[Workers]:
    from bot.storage.store import SqlStore

    fake = WorkspacesFake()
    for team in ("TA", "TB"):
        fake.add_user(AGENT[team], team_id=team)
        fake.add_user(ADMIN[team], team_id=team)
        fake.add_user(CUSTOMER[team], team_id="TCUST" + team)
        fake.add_channel(CHANNEL[team], ["UBOT", AGENT[team], CUSTOMER[team]])
    fake.add_channel(COACH_A, ["UBOT", ADMIN["TA"]])
    fake.start()
    settings = Settings(_env_file=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
                        slack_signing_secret=SECRET, slack_api_url=fake.api_url, coach_database_url=database_url,
                        coach_token_key=Fernet.generate_key().decode(), coach_playbook_check_seconds=0,
                        coach_retry_base_seconds=0.05, coach_admins=list(ADMIN.values()))  # the operator's default
    bots, closers = [], []
    for _ in range(2):
        store = SqlStore(database_url)
        engine = RecoveryEngine(settings, classifier=FakeClassifier(), playbook=playbook)
        app = build_app(settings, engine, store, client=build_web_client(None, fake.api_url, backoff_factor=0.05))
        server = BackgroundServer(wsgi_app(app.bolt, app.ready)).start()
        bots.append(MultiBot(server.url, fake, SlackDriver(server.url, SECRET, fake), app, store, database_url))
        closers.append((server, app, store))
    yield Workers(*bots)
    for server, app, store in closers:
        server.stop()
        app.close()
        store.close()
    fake.stop()


def command(bot: MultiBot, team: str, user: str, text: str) -> None:
    assert bot.driver.command(user, text, CHANNEL[team], team_id=team).status == 200


def answer(bot: MultiBot, contains: str, count: int = 1) -> str:
    calls = bot.fake.wait_for("response_url", count=count, where=lambda c: contains in (c.args.get("text") or ""))
    return calls[-1].args["text"]


def submit_playbook(bot: MultiBot, team: str, user: str, yaml_text: str):
    view = {"type": "modal", "callback_id": "coach_playbook_upload", "id": f"V{next(VIEW_IDS)}", "state": {"values": {
        "file": {"value": {"type": "file_input", "files": []}},
        "text": {"value": {"type": "plain_text_input", "value": yaml_text}},
        "note": {"value": {"type": "plain_text_input", "value": f"{team} playbook"}}}}}
    return bot.driver.interactive({"type": "view_submission", "team": {"id": team}, "user": {"id": user, "team_id": team},
                                   "trigger_id": "trig.x", "view": view})


def home_of(bot: MultiBot, team: str, user: str, count: int = 1):
    assert event(bot, team, {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home",
                             "event_ts": "1.0"}, f"EvHome{team}{user}{count}").status == 200
    return bot.fake.wait_for("views.publish", count=count, user_id=user)[-1]


def card(bot: MultiBot, team: str, count: int = 1):
    return bot.fake.wait_for("chat.postEphemeral", count=count, user=AGENT[team],
                             where=lambda c: bool(c.args.get("blocks")))[-1]


def test_each_workspace_has_its_own_playbook_roles_and_channel_and_sees_only_its_own(workers, playbook_text):
    one, two = workers.one, workers.two
    for team in ("TA", "TB"):
        install(one, team)
    zeta = playbook_text.replace("company: Acme Store", "company: Zeta Shop").replace("currency: USD", "currency: EUR")

    # A's admin uploads A's playbook (worker one) and sets A's supervisors and coach channel
    reply = submit_playbook(one, "TA", ADMIN["TA"], zeta)
    assert reply.status == 200 and not reply.body  # accepted: the form closes
    one.fake.wait_for("chat.postMessage", channel=f"D{ADMIN['TA']}", where=lambda c: "v1 is live" in c.args["text"])
    command(one, "TA", ADMIN["TA"], f"roles supervisors <@{ADMIN['TA']}>")
    assert "Supervisors" in answer(one, "Supervisors:")
    command(one, "TA", ADMIN["TA"], f"coach-channel <#{COACH_A}|coach>")
    answer(one, "Coach channel:")

    # an event in each workspace, handled by the other worker: A's playbook and channel, B's defaults, own tokens
    a = customer_says(two, "TA", "I was charged twice for my order", "EvWA1")
    b = customer_says(two, "TB", "The blender arrived broken", "EvWB1")
    card_a, card_b = card(two, "TA"), card(two, "TB")
    assert card_a.args["_auth"] == f"Bearer {TOKENS['TA']}" and card_b.args["_auth"] == f"Bearer {TOKENS['TB']}"
    assert "1,440 EUR lifetime revenue" in card_a.blocks_text()  # A's playbook: its currency
    assert "1,440 USD lifetime revenue" in card_b.blocks_text() and "EUR" not in card_b.blocks_text()
    copies = two.fake.wait_for("chat.postMessage", channel=COACH_A)
    assert all(c.args["_auth"] == f"Bearer {TOKENS['TA']}" for c in copies)
    assert not [c for c in two.fake.calls_of("chat.postMessage") if c.args["_auth"] == f"Bearer {TOKENS['TB']}"
                and c.args.get("channel") == COACH_A]

    # B's admin: B's playbook, history, stats, incidents and Home only
    command(two, "TB", ADMIN["TB"], "playbook show")
    shown = answer(two, "Acme Store")
    assert "Zeta Shop" not in shown
    command(two, "TB", ADMIN["TB"], "playbook history")
    history = answer(two, "Playbook history")
    assert "TA playbook" not in history and "uses the default playbook" in history
    command(two, "TB", ADMIN["TB"], "playbook rollback 1")  # A's v1 is not B's to take
    answer(two, "There is no playbook version 1")
    command(two, "TB", ADMIN["TB"], "stats 30d")
    stats_b = answer(two, "30 days")
    assert "1 incidents" in stats_b and "billing" not in stats_b and "product quality" in stats_b
    command(one, "TA", ADMIN["TA"], "stats 30d")
    stats_a = answer(one, "30 days", count=2)
    assert "1 incidents" in stats_a and "billing" in stats_a and "product quality" not in stats_a
    command(two, "TB", ADMIN["TB"], "")  # bare /recover in A's channel id would find nothing of A's either
    answer(two, "Planning this channel's latest open incident")
    command(two, "TB", ADMIN["TB"], "config")
    config_b = answer(two, "Workspace TB")
    assert "the default" in config_b and COACH_A not in config_b and "default (COACH_SUPERVISORS)" in config_b
    home_b = home_of(two, "TB", ADMIN["TB"])
    text_b = home_b.blocks_text()
    assert home_b.args["_auth"] == f"Bearer {TOKENS['TB']}"
    assert "Acme Store" in text_b and "Zeta Shop" not in text_b and CHANNEL["TA"] not in text_b
    assert CHANNEL["TB"] in text_b and "Upload playbook" in text_b
    home_a = home_of(one, "TA", ADMIN["TA"])
    assert "Zeta Shop" in home_a.blocks_text() and CHANNEL["TB"] not in home_a.blocks_text()
    assert f"<#{COACH_A}>" in home_a.blocks_text()
    assert one.store.incident_for_thread("TB", CHANNEL["TA"], a["ts"]) is None
    assert one.store.incident_for_thread("TA", CHANNEL["TB"], b["ts"]) is None

    # A's non-admin can change nothing of A's, by command, form or Home button
    before = one.store.workspace_configs.get("TA")
    command(one, "TA", AGENT["TA"], "playbook upload")
    command(one, "TA", AGENT["TA"], f"roles admins <@{AGENT['TA']}>")
    command(one, "TA", AGENT["TA"], "coach-channel off")
    refusals = one.fake.wait_for("response_url", count=3, where=lambda c: ":no_entry:" in (c.args.get("text") or ""))
    assert len(refusals) == 3
    reply = submit_playbook(one, "TA", AGENT["TA"], zeta.replace("Zeta Shop", "Mallory Mart"))
    assert reply.json()["response_action"] == "errors"
    home_agent = home_of(one, "TA", AGENT["TA"])
    assert "Upload playbook" not in home_agent.blocks_text() and "Zeta Shop" in home_agent.blocks_text()
    after = one.store.workspace_configs.get("TA")
    assert after.revision == before.revision and after.playbook.yaml_text == zeta
    refused = {(r.actor, r.action) for r in one.store.audit_log() if not r.allowed}
    assert {(AGENT["TA"], "playbook upload"), (AGENT["TA"], "workspace roles"),
            (AGENT["TA"], "workspace coach-channel")} <= refused
    # B's admin is not an admin of A once A names its own admins
    command(one, "TA", ADMIN["TA"], f"roles admins <@{ADMIN['TA']}>")
    answer(one, "Admins:")
    command(one, "TA", ADMIN["TB"], "config")
    assert ":no_entry:" in answer(one, "Only this workspace's admins", count=3)


def test_a_hostile_playbook_stays_refused_and_the_default_comes_back(workers, playbook_text):
    one, two = workers.one, workers.two
    for team in ("TA", "TB"):
        install(one, team)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    before = one.store.workspace_configs.get("TA")  # the install named its first admin, nothing else
    reply = submit_playbook(one, "TA", ADMIN["TA"], bomb)
    assert reply.json()["response_action"] == "errors"
    after = one.store.workspace_configs.get("TA")  # nothing stored: A still uses the default playbook
    assert after.playbook is None and after.revision == before.revision
    reply = submit_playbook(one, "TA", ADMIN["TA"], playbook_text.replace("currency: USD", "currency: EUR"))
    assert reply.status == 200
    one.fake.wait_for("chat.postMessage", channel=f"D{ADMIN['TA']}", where=lambda c: "v1 is live" in c.args["text"])
    customer_says(two, "TA", "I was charged twice for my order", "EvWA1")
    assert "EUR lifetime revenue" in card(two, "TA").blocks_text()
    command(one, "TA", ADMIN["TA"], "playbook default")
    answer(one, "now uses the default playbook")
    customer_says(two, "TA", "charged twice again, where is my refund", "EvWA2")
    latest = two.fake.wait_for("chat.postEphemeral", user=AGENT["TA"], count=2)[-1]
    assert "USD lifetime revenue" in json.dumps(latest.args.get("blocks") or latest.args.get("text"))


def test_the_cache_rereads_by_revision_only_after_its_interval(database_url):
    from bot.storage.store import SqlStore

    store = SqlStore(database_url)
    store.migrate()
    now = [0.0]
    cache = ConfigCache(store.workspace_configs, interval=5.0, clock=lambda: now[0])
    assert cache.get("TA") is None
    store.workspace_configs.set_roles("TA", "admins", ["U1"], by="U1")  # another worker's change
    assert cache.get("TA") is None  # within the interval: what this worker held
    now[0] = 6.0
    assert cache.get("TA").overrides == {"coach_admins": ["U1"]}
    store.workspace_configs.set_roles("TA", "admins", ["U2"], by="U1")
    cache.invalidate("TA")  # this worker's own change: at once
    assert cache.get("TA").overrides == {"coach_admins": ["U2"]}
    store.close()


def test_single_workspace_mode_keeps_the_environment_and_the_default_playbook(bot):
    from tests.slack.conftest import ADMIN, AGENTS, CHANNEL

    bot.driver.command(ADMIN, "config", CHANNEL)
    shown = bot.fake.wait_for("response_url", where=lambda c: "Single workspace" in (c.args.get("text") or ""))
    assert "default (COACH_ADMINS)" in shown[-1].args["text"]
    bot.driver.command(ADMIN, f"roles admins <@{ADMIN}> <@{AGENTS[0]}>", CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "come from the environment" in (c.args.get("text") or ""))
    bot.driver.command(ADMIN, "playbook default", CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "only the default playbook" in (c.args.get("text") or ""))
    assert not bot.services.roles.is_admin(AGENTS[0])
    with bot.services.store.read_session() as s:
        from sqlalchemy import func, select

        from bot.storage.workspace_config import WorkspaceSettingsRow
        assert s.scalar(select(func.count()).select_from(WorkspaceSettingsRow)) == 0
