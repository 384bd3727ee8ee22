"""Plays Slack's side of the Events API against a running app: signed events, commands and clicks.

Used by the tests (in the spirit of Errbot's testbot) and by the sandbox. Requests are signed like
Slack signs them (v0 HMAC-SHA256 of `v0:timestamp:body` with the signing secret), so they pass
through Bolt's real verification.
"""
from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.slack.fake_api import FakeSlack


@dataclass
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class SlackDriver:
    def __init__(self, app_url: str, signing_secret: str, fake: FakeSlack, api_app_id: str = "ACOACH"):
        self.events_url = app_url.rstrip("/") + "/slack/events"
        self.verifier = SignatureVerifier(signing_secret)
        self.fake = fake
        self.api_app_id = api_app_id
        self._ids = itertools.count(1)

    # ---- transport ---------------------------------------------------------------------------
    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
             timestamp: int | None = None, signature: str | None = None) -> Reply:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature or self.verifier.generate_signature(timestamp=ts, body=body)
        all_headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                       **(headers or {})}
        request = urllib.request.Request(self.events_url, data=body.encode("utf-8"), headers=all_headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(response.status, response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.read().decode("utf-8"))

    def post_json(self, payload: dict, **kwargs: Any) -> Reply:
        return self.post(json.dumps(payload), "application/json", **kwargs)

    def post_form(self, form: dict[str, str], **kwargs: Any) -> Reply:
        return self.post(urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    # ---- Events API ---------------------------------------------------------------------------
    def event(self, event: dict, event_id: str | None = None, retry_num: int | None = None, **kwargs: Any) -> Reply:
        envelope = {"token": "legacy", "team_id": self.fake.team_id, "api_app_id": self.api_app_id, "event": event,
                    "type": "event_callback", "event_id": event_id or f"Ev{next(self._ids):08d}",
                    "event_time": int(time.time())}
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return self.post_json(envelope, headers=headers, **kwargs)

    def message(self, user: str, text: str, channel: str, thread_ts: str | None = None,
                event_id: str | None = None, files: list[dict] | None = None) -> tuple[dict, Reply]:
        """A new message: stored in the fake (so conversations.replies sees it), then the event is sent."""
        message = self.fake.add_message(channel, user, text, thread_ts=thread_ts, files=files)
        event = {"type": "message", "channel": channel, "channel_type": "channel", "team": self.fake.team_id,
                 "event_ts": message["ts"], **message}
        if files:
            event["subtype"] = "file_share"
        return message, self.event(event, event_id=event_id)

    # ---- slash commands and interactivity ------------------------------------------------------
    def response_url(self) -> str:
        return f"{self.fake.url}/response/{next(self._ids)}"

    def command(self, user: str, text: str, channel: str, command: str = "/recover", **extra: str) -> Reply:
        form = {"token": "legacy", "team_id": self.fake.team_id, "channel_id": channel, "user_id": user,
                "command": command, "text": text, "response_url": self.response_url(),
                "trigger_id": f"trig.{next(self._ids)}", "api_app_id": self.api_app_id, **extra}
        return self.post_form(form)

    def interactive(self, payload: dict) -> Reply:
        payload = {"team": {"id": self.fake.team_id}, "api_app_id": self.api_app_id, "token": "legacy", **payload}
        return self.post_form({"payload": json.dumps(payload)})

    def click(self, user: str, button: dict, channel: str, message_ts: str | None = None,
              ephemeral: bool = True) -> Reply:
        """Click a button (a Block Kit element dict as the bot sent it) in a message or ephemeral card."""
        container = {"type": "message", "message_ts": message_ts or "0", "channel_id": channel,
                     "is_ephemeral": ephemeral}
        payload: dict[str, Any] = {
            "type": "block_actions", "user": {"id": user}, "channel": {"id": channel}, "container": container,
            "trigger_id": f"trig.{next(self._ids)}", "response_url": self.response_url(),
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "coach_actions",
                         "value": button.get("value", ""), "action_ts": str(time.time())}],
        }
        if not ephemeral:
            payload["message"] = {"ts": message_ts, "text": ""}
        return self.interactive(payload)

    def message_shortcut(self, user: str, message: dict, channel: str, callback_id: str = "recovery_plan",
                         trigger_id: str | None = None) -> Reply:
        """Click a message shortcut (⋮ More actions) on `message` as stored in the fake, as Slack sends it."""
        payload = {"type": "message_action", "callback_id": callback_id, "user": {"id": user, "name": user.lower()},
                   "channel": {"id": channel, "name": channel.lower()}, "message": message,
                   "message_ts": message.get("ts"), "trigger_id": trigger_id or f"trig.{next(self._ids)}",
                   "response_url": self.response_url(), "action_ts": str(time.time())}
        return self.interactive(payload)

    def submit_view(self, user: str, view: dict, values: dict[str, dict]) -> Reply:
        """Submit a modal the bot opened; `values` as Slack sends view.state.values."""
        payload = {"type": "view_submission", "user": {"id": user}, "trigger_id": f"trig.{next(self._ids)}",
                   "view": {**view, "id": f"V{next(self._ids)}", "state": {"values": values}}}
        return self.interactive(payload)

    def open_home(self, user: str) -> Reply:
        return self.event({"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": "home",
                           "event_ts": str(time.time())})


def buttons(call_args: dict) -> dict[str, dict]:
    """action_id -> button element, from a recorded chat.postEphemeral / postMessage call."""
    blocks = call_args.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return {e["action_id"]: e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])}
