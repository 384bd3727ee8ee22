"""Multi-workspace install end to end against the recording fake Slack: two workspaces install through
/slack/install and /slack/oauth_redirect, each one's events are answered with its own token, one never
sees the other's incidents, and an uninstalled one's tokens are gone."""
from __future__ import annotations

import base64
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Iterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack.app import build_app
from bot.slack.driver import SlackDriver
from bot.slack.fake_api import FakeSlack, _reply
from bot.slack.resilience import build_web_client
from bot.slack.server import BackgroundServer, wsgi_app
from tests.slack.conftest import SECRET, FakeClassifier

CLIENT_ID, CLIENT_SECRET = "1111.2222", "client-secret-xyz"
TOKENS = {"TA": "xoxb-team-a-0001", "TB": "xoxb-team-b-0002"}
AGENT = {"TA": "UAGENTA", "TB": "UAGENTB"}
CUSTOMER = {"TA": "UCUSTA", "TB": "UCUSTB"}
CHANNEL = {"TA": "CSUPPORTA", "TB": "CSUPPORTB"}


class WorkspacesFake(FakeSlack):
    """The fake Slack, aware of whose token a call carries: auth.test answers that token's workspace,
    a revoked or unknown token gets invalid_auth, and every recorded call keeps its Authorization."""

    def __init__(self) -> None:
        super().__init__(team_id="TA")
        self.token_team: dict[str, str] = {}
        self.revoked: set[str] = set()
        self._local = threading.local()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        auth = request.headers.get("Authorization") or ""
        self._local.auth = auth
        token = auth.removeprefix("Bearer ")
        if auth.startswith("Bearer ") and (token in self.revoked or token not in self.token_team):
            return _reply(request, 200, b'{"ok": false, "error": "invalid_auth"}')
        super()._handle(request)

    def _record(self, call) -> None:
        call.args["_auth"] = getattr(self._local, "auth", "")
        super()._record(call)

    def _m_auth_test(self, args: dict) -> dict:
        team = self.token_team.get(getattr(self._local, "auth", "").removeprefix("Bearer "))
        return {"team_id": team, "user_id": self.bot_user_id, "bot_id": "BCOACH", "team": team}

    def calls_with(self, method: str, team: str) -> list:
        return [c for c in self.calls_of(method) if c.args.get("_auth") == f"Bearer {TOKENS[team]}"]


@dataclass
class MultiBot:
    url: str
    fake: WorkspacesFake
    driver: SlackDriver
    app: object
    store: object
    database_url: str


@pytest.fixture
def multi(database_url, playbook) -> Iterator[MultiBot]:
    from bot.storage.store import SqlStore

    fake = WorkspacesFake()
    for team in ("TA", "TB"):
        fake.add_user(AGENT[team], team_id=team)
        fake.add_user(CUSTOMER[team], team_id="TCUST" + team)  # Slack Connect customer of that workspace
        fake.add_channel(CHANNEL[team], ["UBOT", AGENT[team], CUSTOMER[team]])
    fake.start()
    settings = Settings(_env_file=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
                        slack_signing_secret=SECRET, slack_api_url=fake.api_url, coach_database_url=database_url,
                        coach_token_key=Fernet.generate_key().decode(), coach_playbook_check_seconds=0,
                        coach_retry_base_seconds=0.05)
    store = SqlStore(database_url)
    engine = RecoveryEngine(settings, classifier=FakeClassifier(), playbook=playbook)
    app = build_app(settings, engine, store, client=build_web_client(None, fake.api_url, backoff_factor=0.05))
    server = BackgroundServer(wsgi_app(app.bolt, app.ready)).start()
    yield MultiBot(server.url, fake, SlackDriver(server.url, SECRET, fake), app, store, database_url)
    server.stop()
    app.close()
    store.close()
    fake.stop()


def get(url: str, cookie: str | None = None) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


def install(bot: MultiBot, team: str, installer: str = "UINSTALLER") -> str:
    """What an admin's browser does: open /slack/install, 'Allow' in Slack, follow the redirect."""
    status, headers, page = get(bot.url + "/slack/install")
    assert status == 200 and "Add to Slack" in page
    link = re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page).group(1).replace("&amp;", "&")
    assert f"client_id={CLIENT_ID}" in link and "chat%3Awrite" in link.replace(":", "%3A")
    state = re.search(r"state=([^&]+)", link).group(1)
    cookie = headers["set-cookie"].split(";")[0]
    bot.fake.token_team[TOKENS[team]] = team
    bot.fake.grant_install(f"code-{team}", team, TOKENS[team], team_name=f"Workspace {team}", installer=installer)
    status, _, page = get(f"{bot.url}/slack/oauth_redirect?code=code-{team}&state={state}", cookie)
    assert status == 200, page
    return page


def event(bot: MultiBot, team: str, payload: dict, event_id: str):
    envelope = {"token": "legacy", "team_id": team, "api_app_id": "ACOACH", "type": "event_callback",
                "event_id": event_id, "event_time": 1, "event": payload,
                "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True, "enterprise_id": None}]}
    return bot.driver.post_json(envelope)


def customer_says(bot: MultiBot, team: str, words: str, event_id: str) -> dict:
    message = bot.fake.add_message(CHANNEL[team], CUSTOMER[team], words)
    reply = event(bot, team, {"type": "message", "channel": CHANNEL[team], "channel_type": "channel",
                              "team": team, "event_ts": message["ts"], **message}, event_id)
    assert reply.status == 200
    return message


def test_two_workspaces_install_get_their_own_tokens_and_one_uninstalls(multi):
    for team in ("TA", "TB"):
        install(multi, team)
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    exchanges = multi.fake.calls_of("oauth.v2.access")
    assert len(exchanges) == 2 and all(c.args["_auth"] == basic for c in exchanges)

    with create_engine(multi.database_url).connect() as connection:  # tokens at rest: ciphertext only
        stored = connection.execute(text("SELECT team_id, bot_token FROM slack_bots")).all()
        everything = " ".join(str(v) for row in connection.execute(text("SELECT * FROM slack_installations"))
                              for v in row)
    assert {team for team, _ in stored} == {"TA", "TB"}
    assert all(token.startswith("fernet:") for _, token in stored)
    assert not any(t in everything or t in str(stored) for t in TOKENS.values())

    a = customer_says(multi, "TA", "I was charged twice for my order", "EvA1")
    b = customer_says(multi, "TB", "The blender arrived broken", "EvB1")
    card_a = multi.fake.wait_for("chat.postEphemeral", user=AGENT["TA"], where=lambda c: bool(c.args.get("blocks")))
    card_b = multi.fake.wait_for("chat.postEphemeral", user=AGENT["TB"], where=lambda c: bool(c.args.get("blocks")))
    assert card_a[-1].args["_auth"] == f"Bearer {TOKENS['TA']}" and card_a[-1].args["channel"] == CHANNEL["TA"]
    assert card_b[-1].args["_auth"] == f"Bearer {TOKENS['TB']}" and card_b[-1].args["channel"] == CHANNEL["TB"]
    # no call about one workspace's channel went out with the other's token
    for team, other in (("TA", "TB"), ("TB", "TA")):
        assert not [c for c in multi.fake.calls_with("chat.postEphemeral", other)
                    if c.args.get("channel") == CHANNEL[team]]
    # one workspace never sees the other's incidents
    store = multi.store
    assert store.incident_for_thread("TA", CHANNEL["TA"], a["ts"]) is not None
    assert store.incident_for_thread("TB", CHANNEL["TA"], a["ts"]) is None
    assert store.incident_for_thread("TB", CHANNEL["TB"], b["ts"]) is not None
    assert store.incident_for_thread("TA", CHANNEL["TB"], b["ts"]) is None

    assert event(multi, "TA", {"type": "app_uninstalled"}, "EvA-uninstall").status == 200
    multi.fake.revoked.add(TOKENS["TA"])

    def installed() -> tuple[set[str], set[str]]:
        with create_engine(multi.database_url).connect() as connection:
            return ({row[0] for row in connection.execute(text("SELECT team_id FROM slack_bots"))},
                    {row[0] for row in connection.execute(text("SELECT team_id FROM slack_installations"))})

    deadline = time.monotonic() + 10  # the event is handled after its 200
    while installed() != ({"TB"}, {"TB"}) and time.monotonic() < deadline:
        time.sleep(0.05)
    teams, installs = installed()
    assert teams == {"TB"} and installs == {"TB"}

    before = len(multi.fake.calls_of("chat.postEphemeral", ok_only=False))
    customer_says(multi, "TA", "charged twice again", "EvA2")  # no token for TA any more: nothing is posted
    customer_says(multi, "TB", "still broken", "EvB2")
    multi.fake.wait_for("chat.postEphemeral", count=2, user=AGENT["TB"], where=lambda c: bool(c.args.get("blocks")))
    after = multi.fake.calls_of("chat.postEphemeral", ok_only=False)[before:]
    assert after and all(c.args["_auth"] == f"Bearer {TOKENS['TB']}" for c in after)
    assert store.incident_for_thread("TA", CHANNEL["TA"], a["ts"]) is not None  # incidents stay (retention)


def test_forged_or_replayed_state_is_refused(multi):
    multi.fake.token_team[TOKENS["TA"]] = "TA"
    multi.fake.grant_install("code-TA", "TA", TOKENS["TA"])
    status, _, _ = get(f"{multi.url}/slack/oauth_redirect?code=code-TA&state=forged-state")
    assert status >= 400
    assert not multi.fake.calls_of("oauth.v2.access")  # the code was never exchanged
    page = install(multi, "TB")
    assert "Add to Slack" not in page


def test_tokens_revoked_deletes_the_bot_token(multi):
    install(multi, "TA")
    assert event(multi, "TA", {"type": "tokens_revoked", "tokens": {"bot": ["UBOT"]}}, "EvRevoke").status == 200

    def bots() -> int:
        with create_engine(multi.database_url).connect() as connection:
            return connection.execute(text("SELECT count(*) FROM slack_bots")).scalar()

    deadline = time.monotonic() + 10  # the event is handled after its 200
    while bots() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert bots() == 0


def test_multi_workspace_mode_needs_a_token_key(database_url):
    from bot.slack.oauth import ConfigProblem, check_settings, multi_workspace

    settings = Settings(_env_file=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
                        slack_signing_secret=SECRET, coach_database_url=database_url)
    assert multi_workspace(settings)
    with pytest.raises(ConfigProblem, match="COACH_TOKEN_KEY"):
        check_settings(settings)
    with pytest.raises(ConfigProblem, match="Fernet"):
        check_settings(settings.model_copy(update={"coach_token_key": SecretStr("not-a-key")}))
    assert not multi_workspace(settings.model_copy(update={"slack_bot_token": "xoxb-1"}))  # single-workspace


def test_token_cipher_rotation_and_refusals():
    from bot.slack.oauth import TokenCipher

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_old = TokenCipher([old]).seal("xoxb-secret")
    assert sealed_old.startswith("fernet:") and "xoxb" not in sealed_old
    rotated = TokenCipher([new, old])
    assert rotated.open(sealed_old) == "xoxb-secret"                 # the old key still decrypts
    assert TokenCipher([new]).open(rotated.seal("xoxb-2")) == "xoxb-2"  # new writes use the new key
    assert TokenCipher([new]).open(sealed_old) is None               # unknown key: not used
    assert rotated.open("xoxb-in-clear") is None                     # a token in clear: not used
    assert rotated.seal(sealed_old) == sealed_old                    # never sealed twice


def test_follow_ups_go_out_with_their_own_workspaces_token(multi):
    """The scheduler thread has no request behind it: each DM must carry the incident's workspace's token."""
    from datetime import datetime, timezone

    from bot.coach.models import FollowUpItem
    from bot.slack.followups import make_deliverer

    for team in ("TA", "TB"):
        install(multi, team)
    threads = {"TA": customer_says(multi, "TA", "I was charged twice for my order", "EvFA"),
               "TB": customer_says(multi, "TB", "The blender arrived broken", "EvFB")}
    for team in ("TA", "TB"):
        multi.fake.wait_for("chat.postEphemeral", user=AGENT[team], where=lambda c: bool(c.args.get("blocks")))
        incident = multi.store.incident_for_thread(team, CHANNEL[team], threads[team]["ts"])
        multi.store.resolve_incident(incident.id, AGENT[team], [FollowUpItem(when="now", action=f"call back {team}")])
    due = multi.store.due_follow_ups(datetime.now(timezone.utc))
    assert {item.workspace for item in due} == {"TA", "TB"}
    deliver = make_deliverer(multi.app.services)
    for item in due:
        deliver(item)
    for team in ("TA", "TB"):
        sent = [c for c in multi.fake.calls_with("chat.postMessage", team) if "Follow-up due" in c.args.get("text", "")]
        assert len(sent) == 1 and f"call back {team}" in sent[0].args["text"]


def test_the_installer_is_the_new_workspaces_first_admin(multi):
    """A new workspace needs an admin of its own (COACH_ADMINS names the operator's users): the installer, once."""
    install(multi, "TA", installer=AGENT["TA"])
    configs = multi.store.workspace_configs
    assert configs.get("TA").roles["admins"] == [AGENT["TA"]]
    configs.set_roles("TA", "admins", [AGENT["TA"], "UOTHER"], by=AGENT["TA"])
    install(multi, "TA", installer="USOMEONE")  # a re-install keeps the admins the workspace chose
    assert configs.get("TA").roles["admins"] == [AGENT["TA"], "UOTHER"]
    assert configs.get("TB") is None  # never installed: nothing written for it
