"""`coach start` without Slack tokens: the real Bolt app against the built-in fake Slack, in a terminal.

You type as the customer; you see exactly what the agent would see in Slack: private cards, nudges,
DMs, and (marked loudly) anything posted visibly in the channel. Buttons are typed commands. Same code
path as production: signed HTTP requests into Bolt, Web API calls out to the fake.
"""
from __future__ import annotations

import json
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

from bot.engine import RecoveryEngine
from bot.settings import Settings
from bot.slack.driver import SlackDriver, buttons
from bot.slack.fake_api import Call, FakeSlack
from bot.slack.server import BackgroundServer, wsgi_app

CHANNEL, CUSTOMER, AGENT, SUPERVISOR = "CSUPPORT", "UCUSTOMER", "UAGENT", "USUPERVISOR"
HELP = """Type a customer message (any language). Commands:
  /agent TEXT     reply in the thread as the agent (try "Sorry, but our policy…")
  /send           click "Send apology" on the last card      /offer, /offer-above   click an offer button
  /resolve        click "Resolved"                           /approve, /deny        answer as the supervisor
  /recover ARGS   run the slash command (help, stats, followups, playbook show…)
  /new            start a new thread      /home   open App Home      /help   this text      /quit"""
BUTTONS = {"/send": "coach_send_apology", "/offer": "coach_offer", "/offer-above": "coach_offer_above",
           "/resolve": "coach_resolved", "/approve": "coach_approve", "/deny": "coach_deny"}


def _mrkdwn(text: str) -> str:
    text = re.sub(r"<@(\w+)>", lambda m: "@" + {AGENT: "you", SUPERVISOR: "supervisor"}.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<([^|>]+)\|([^>]+)>", r"\2", text)
    return text.replace("*", "").replace("`", "")


def describe(call: Call) -> Panel | None:
    """One recorded Slack call as the person at the agent's screen would see it, or None."""
    args = call.args
    if call.method == "chat.postEphemeral" and args.get("user") == AGENT:
        title, style = "only you see this", "cyan"
    elif call.method == "response_url":
        title, style = "only you see this", "cyan"
    elif call.method == "chat.postMessage" and args.get("channel") == CHANNEL:
        title, style = "POSTED IN THE CHANNEL — the customer sees this", "bold red"
    elif call.method == "chat.postMessage" and str(args.get("channel", "")).startswith("D"):
        who = "you" if args["channel"] == f"D{AGENT}" else "the supervisor"
        title, style = f"DM to {who}", "magenta"
    elif call.method == "views.publish":
        title, style = "App Home", "green"
    elif call.method == "chat.update":
        title, style = "message updated", "magenta"
    else:
        return None
    blocks = args.get("blocks") or (args.get("view") or {}).get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    lines: list[str] = []
    for block in blocks or []:
        if block.get("type") in ("section", "header") and block.get("text"):
            lines.append(_mrkdwn(block["text"]["text"]))
        elif block.get("type") == "context":
            lines += [_mrkdwn(e.get("text", "")) for e in block.get("elements", [])]
        elif block.get("type") == "actions":
            lines.append("  ".join(f"[{e['text']['text']}]" for e in block.get("elements", [])))
    body = "\n".join(lines) if lines else _mrkdwn(str(args.get("text") or ""))
    return Panel(body, title=title, border_style=style)


class Sandbox:
    def __init__(self, settings: Settings, engine: RecoveryEngine | None = None, console: Console | None = None):
        from bot.slack.runner import create_runtime

        self.console = console or Console()
        self.fake = FakeSlack(team_id="TSANDBOX").start()
        self.fake.add_user(AGENT, name="you")
        self.fake.add_user(SUPERVISOR, name="supervisor")
        self.fake.add_user(CUSTOMER, name="customer", team_id="TCUSTOMER")
        self.fake.add_channel(CHANNEL, [self.fake.bot_user_id, AGENT, CUSTOMER])
        self.folder = tempfile.TemporaryDirectory(prefix="coach-sandbox-")
        secret = secrets.token_hex(16)
        self.settings = settings.model_copy(update={
            "slack_bot_token": SecretStr("xoxb-sandbox"), "slack_app_token": None,
            "slack_signing_secret": SecretStr(secret),
            "slack_api_url": self.fake.api_url, "coach_admins": [AGENT], "coach_supervisors": [SUPERVISOR],
            "coach_leads": [], "coach_agents": [], "coach_customers": [], "coach_coach_channel": None,
            "coach_database_url": f"sqlite:///{Path(self.folder.name) / 'sandbox.sqlite'}",
            "coach_playbook_check_seconds": 0.0,
        })
        self.runtime = create_runtime(self.settings, engine=engine)
        self.server = BackgroundServer(wsgi_app(self.runtime.app.bolt, self.runtime.app.ready)).start()
        self.driver = SlackDriver(self.server.url, secret, self.fake)
        self.thread_ts: str | None = None
        self.seen = 0

    def close(self) -> None:
        self.server.stop()
        self.runtime.close()
        self.fake.stop()
        self.folder.cleanup()

    def _last_buttons(self) -> dict[str, tuple[dict, Call]]:
        found: dict[str, tuple[dict, Call]] = {}
        for call in self.fake.calls_of():
            for action_id, element in buttons(call.args).items():
                found[action_id] = (element, call)
        return found

    def show_new(self, quiet_for: float = 0.6, timeout: float = 30.0) -> None:
        """Print calls as they arrive until Slack traffic has been quiet for a moment."""
        start = last = time.monotonic()
        while time.monotonic() - start < timeout:
            calls = self.fake.calls_of()
            if len(calls) > self.seen:
                for call in calls[self.seen:]:
                    panel = describe(call)
                    if panel is not None:
                        self.console.print(panel)
                self.seen = len(calls)
                last = time.monotonic()
            elif time.monotonic() - last > quiet_for and (self.seen or time.monotonic() - start > quiet_for * 3):
                return
            time.sleep(0.05)

    def handle(self, line: str) -> bool:
        """One typed line; False to quit."""
        line = line.strip()
        if not line or line in ("/quit", "/exit"):
            return False
        if line == "/help":
            self.console.print(HELP)
            return True
        if line == "/new":
            self.thread_ts = None
            self.console.print("[dim]new thread[/dim]")
            return True
        if line == "/home":
            self.driver.open_home(AGENT)
        elif line.startswith("/agent "):
            if not self.thread_ts:
                self.console.print("[yellow]no thread yet: type a customer message first[/yellow]")
                return True
            self.driver.message(AGENT, line[len("/agent "):], CHANNEL, thread_ts=self.thread_ts)
        elif line.startswith("/recover"):
            self.driver.command(SUPERVISOR if not line[8:].strip().startswith("playbook") else AGENT,
                                line[len("/recover"):].strip(), CHANNEL)
        elif line.split()[0] in BUTTONS:
            found = self._last_buttons().get(BUTTONS[line.split()[0]])
            if found is None:
                self.console.print("[yellow]no such button on the latest card[/yellow]")
                return True
            element, call = found
            user = SUPERVISOR if element["action_id"] in ("coach_approve", "coach_deny") else AGENT
            channel = call.args.get("channel") or CHANNEL
            self.driver.click(user, element, channel, message_ts=call.args.get("ts") or "0",
                              ephemeral=call.method != "chat.postMessage")
        elif line.startswith("/"):
            self.console.print("[yellow]unknown command; /help[/yellow]")
            return True
        else:
            message, _ = self.driver.message(CUSTOMER, line, CHANNEL, thread_ts=self.thread_ts)
            self.thread_ts = self.thread_ts or message["ts"]
        self.show_new()
        return True


def run_sandbox(settings: Settings, engine: RecoveryEngine | None = None, lines: Iterator[str] | None = None,
                console: Console | None = None) -> None:
    console = console or Console()
    console.print("[bold]Recovery Coach sandbox[/bold] — the Slack bot against a local fake Slack "
                  "(no tokens configured). Loading the model…")
    if engine is None:
        engine = RecoveryEngine(settings)
        try:
            _ = engine.classifier
        except Exception as exc:  # no trained model yet: say what to do instead of a silent sandbox
            console.print(f"[red]cannot load the model ({type(exc).__name__}: {exc})[/red]; run `make train` first.")
            return
    sandbox = Sandbox(settings, engine, console)
    read: Callable[[], str] = (lambda: next(lines)) if lines is not None else (lambda: console.input("[cyan]customer>[/cyan] "))
    console.print(HELP)
    try:
        while True:
            try:
                line = read()
            except (EOFError, KeyboardInterrupt, StopIteration):
                break
            if not sandbox.handle(line):
                break
    finally:
        sandbox.close()
