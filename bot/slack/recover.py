"""`/recover`: the full plan for a thread, stats, follow-ups, and playbook administration.

Everything answers privately (ephemeral via the command's response_url, or the requester's DM for
files), because a supervisor may type the command in a customer's channel. Slow work (inference,
the heat map) goes to the bounded executor after the ack. Admin-only subcommands are refused for
everyone else and the refusal is audited.
"""
from __future__ import annotations

import http.client
import re
import time
import urllib.request
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from urllib.parse import urlparse

from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.coach.checklist import ordered
from bot.coach.memory import load_profile
from bot.coach.models import RecoveryPlan, ThreadMessage
from bot.coach.thread_labels import thread_labels
from bot.playbook import MAX_PLAYBOOK_BYTES, Playbook, PlaybookError, decode_playbook
from bot.render import blocks as ui
from bot.slack.customer_value import with_value
from bot.slack.logging import get_logger
from bot.slack.resilience import safe_call
from bot.slack.thread_cards import on_duty_command
from bot.slack.workspace_config import config_command, current_scope
from bot.storage.api import CustomerMessage, PlaybookVersion

log = get_logger("slack.recover")
DOWNLOAD_SECONDS = 5.0        # a whole playbook download, however slowly the bytes drip
MODAL_VERDICT_SECONDS = 1.5   # the upload form waits this long to show errors on itself; then it closes, the DM follows
BUSY = ":hourglass: The coach is busy right now; the live playbook stays. Try the upload again in a minute."
LINK = re.compile(r"/archives/(?P<channel>[A-Z0-9]+)/p(?P<sec>\d{10})(?P<usec>\d{6})(?:\?(?P<query>[^\s>|]*))?")
FILE_ID = re.compile(r"\b(F[A-Z0-9]{6,})\b")
ADMIN_SUBCOMMANDS = {"show", "upload", "history", "rollback", "default"}

HELP = """*Recovery Coach* — `/recover`
• *Recovery plan* (the message shortcut: ⋮ More actions on a customer's message) — the whole thread's plan, privately
• `/recover <message link>` — the full recovery plan for that customer message (bare `/recover`: the channel's latest open incident)
• `/recover stats [7d|30d]` — incidents by type, tone and hour, patterns worth a look, heat map (sent to you privately)
• `/recover followups` — follow-ups that are due
• `/recover on-duty @a @b | off` — who is coached in this channel's threads nobody has replied in (supervisors)
• `/recover playbook show | upload [file link] | history | rollback N | default` — playbook admins only
• `/recover config`, `/recover roles <role> @a @b`, `/recover coach-channel #c` — this workspace's setup (admins)
• `/recover help` — this text"""
USAGE = "I didn't understand that. " + HELP
LATEST_OPEN = ("Planning this channel's latest open incident. For a particular thread, use the *Recovery plan* "
               "shortcut on its message (⋮ More actions) or `/recover <message link>`.")
USE_SHORTCUT = ("Slash commands can't see which thread you are in. For this thread's plan, use the *Recovery plan* "
                "shortcut on its message (hover the message → ⋮ More actions → Recovery plan), or "
                "`/recover <message link>`.")


def register(app: App, services) -> None:
    @app.command("/recover")
    def on_recover(ack: Ack, command: dict, respond: Respond) -> None:
        ack()
        handle_recover(services, command, respond)

    @app.view(ui.PLAYBOOK_VIEW)
    def on_playbook_submit(ack: Ack, body: dict, view: dict) -> None:
        submit_playbook_modal(services, ack, body, view)


def handle_recover(services, command: dict, respond: Respond) -> None:
    user = command["user_id"]
    args = (command.get("text") or "").split()
    sub = args[0].lower() if args else ""
    link = LINK.search(command.get("text") or "")
    if not link and not args and command.get("thread_ts"):
        respond(text=USE_SHORTCUT)  # a bare /recover in a thread: only the shortcut carries the thread
        return
    if link or not args:
        target = _thread_target(services, command, link)
        if target is None:
            respond(text=HELP if not args else "I can't find that message.")
            return
        if not _require_supervisor(services, user, "recover plan", respond):
            return
        if not link:  # a command cannot tell which thread it was typed in: say what is planned, and how to pick
            respond(text=LATEST_OPEN)
        services.inference.submit(full_plan, services, respond, user, command.get("team_id") or "", *target)
    elif sub == "help":
        respond(text=HELP)
    elif sub == "stats":
        days = _days(args[1] if len(args) > 1 else "7d")
        if days is None:
            respond(text="Usage: `/recover stats [7d|30d]`")
        elif _require_supervisor(services, user, "recover stats", respond):
            services.inference.submit(send_stats, services, respond, user, days)
    elif sub == "followups":
        list_follow_ups(services, respond, user)
    elif sub == "playbook":
        playbook_command(services, command, respond, args[1:])
    elif sub in ("on-duty", "onduty", "on_duty"):
        on_duty_command(services, command, respond, args[1:])
    elif sub in ("config", "roles", "coach-channel", "coach_channel"):
        config_command(services, command, respond, sub.replace("_", "-"), args[1:])
    else:
        respond(text=USAGE)


def _days(arg: str) -> int | None:
    match = re.fullmatch(r"(\d{1,3})d?", arg.strip().lower())
    return int(match.group(1)) if match and 0 < int(match.group(1)) <= 365 else None


def _require_supervisor(services, user: str, action: str, respond: Respond) -> bool:
    if services.roles.is_supervisor(user):
        return True
    services.store.record_audit(user, action, "not a supervisor", allowed=False)
    respond(text="Only supervisors can use this (COACH_SUPERVISORS / COACH_LEADS).")
    return False


def _thread_target(services, command: dict, link: re.Match | None) -> tuple[str, str, str | None] | None:
    """(channel, thread root ts, message ts or None) from a link, or the channel's latest open incident."""
    if link:
        ts = f"{link['sec']}.{link['usec']}"
        query = dict(part.split("=", 1) for part in (link["query"] or "").split("&") if "=" in part)
        return link["channel"], query.get("thread_ts", ts), ts
    channel = command["channel_id"]
    recent = [i for i in services.store.incidents_since(services.now() - timedelta(days=7), workspace=current_scope())
              if i.channel == channel and i.status == "open"]
    if recent:
        latest = max(recent, key=lambda i: i.opened_at)
        return channel, latest.thread_ts, None
    return None


@dataclass(frozen=True)
class ThreadPlan:
    """One thread's plan and where its card's buttons point (the planned customer message)."""

    plan: RecoveryPlan
    context: ui.CardContext

    def text(self) -> str:
        return ui.card_text(self.plan)

    def blocks(self) -> list[dict]:
        return ui.coaching_card(self.plan, self.context, full=True)


def _read_thread(services, channel: str, thread_ts: str) -> list[dict] | str:
    """The thread's messages, or a sentence for the requester saying why they cannot be read."""
    try:
        replies = services.client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.warning("slack call failed", extra={"method": "conversations.replies", "error": error})
        if error in ("thread_not_found", "message_not_found"):
            return "I can't find that message: it may have been deleted."
        if error in ("channel_not_found", "not_in_channel", "missing_scope"):
            return "I can't read that thread: is the bot invited to the channel? (`/invite @Recovery Coach`)"
        return "Slack didn't let me read that thread just now; try again in a minute."
    except (SlackClientError, OSError) as exc:
        log.warning("slack call failed", extra={"method": "conversations.replies", "error": type(exc).__name__})
        return "Slack didn't answer just now; try again in a minute."
    return list(replies.get("messages") or [])


def plan_thread(services, user: str, workspace: str, channel: str, thread_ts: str,
                message_ts: str | None) -> ThreadPlan | str:
    """The one thread planner, behind `/recover <link>` and the "Recovery plan" shortcut.

    Plans `message_ts` (or the thread's latest customer message) with everything said before it and the
    thread's labels (thread_labels), read as stored where the bot stored them (so an agent's *Wrong tone/type*
    correction holds here too) and classified where it did not; records the incident when the thread has none.
    Returns the plan, or a sentence for the requester saying why there is none (never raises for a missing thread
    or channel).
    """
    read = _read_thread(services, channel, thread_ts)
    if isinstance(read, str):
        return read
    messages = [m for m in read if not m.get("bot_id") and m.get("text")]
    customer_msgs = [m for m in messages if services.roles.is_customer(m.get("user"))]
    chosen = next((m for m in customer_msgs if m["ts"] == message_ts), None) or (customer_msgs[-1] if customer_msgs else None)
    if chosen is None:
        return "No customer message in that thread."
    before = [m for m in messages if float(m["ts"]) < float(chosen["ts"])]
    earlier = [ThreadMessage(text=m["text"], from_customer=m in customer_msgs, has_files=bool(m.get("files")))
               for m in before]
    # labels as stored (an agent's correction first), as the live card read them; only unseen messages are classified
    stored = {s.message_ts: s.classification(services.engine.unsure_threshold) for s in
              services.store.thread_labels_before(workspace, channel, thread_ts, chosen["ts"], inclusive=True)}
    classification = stored.get(chosen["ts"]) or services.engine.classify(chosen["text"])
    earlier_labels = [stored.get(m["ts"]) or services.engine.classify(m["text"]) for m in before if m in customer_msgs]
    labels, why = thread_labels(classification, earlier_labels, services.engine.playbook.severity.tone_points)
    profile = load_profile(services.store, workspace, chosen["user"], thread_ts, services.now())  # memory in full below
    profile = with_value(profile, services, workspace, chosen["user"])  # customers table > Slack profile > playbook
    plan = services.engine.suggest(chosen["text"], earlier, profile, services.roles.authority(user),
                                   bool(chosen.get("files")), labels)
    plan.why[:0] = why
    incident = services.store.incident_for_thread(workspace, channel, thread_ts)
    plan.checklist = ordered(services.store.checklist(incident.id)) if incident is not None else []  # steps so far
    if incident is not None:
        incident_id = incident.id
    else:  # the message's own labels are stored: feedback and training must see what the model said of it
        incident_id = services.store.record_customer_message(
            CustomerMessage(workspace, channel, thread_ts, chosen["ts"], chosen["user"], chosen["text"],
                            datetime.fromtimestamp(float(chosen["ts"]), timezone.utc)),
            classification, plan, shown_to=[user])
    return ThreadPlan(plan, ui.CardContext(incident_id, channel, thread_ts, chosen["ts"]))


def full_plan(services, respond: Respond, user: str, workspace: str, channel: str, thread_ts: str,
              message_ts: str | None) -> None:
    """`/recover <link>`: the thread's plan (plan_thread) on the command's response_url."""
    planned = plan_thread(services, user, workspace, channel, thread_ts, message_ts)
    if isinstance(planned, str):
        respond(text=planned)
        return
    respond(text=planned.text(), blocks=planned.blocks())


def send_stats(services, respond: Respond, user: str, days: int) -> None:
    from bot.slack.stats import stats_report

    text, png = stats_report(services.store, days, services.now(), workspace=current_scope())
    respond(text=text)
    if png:
        dm = services.dm_channel(user)
        if dm:
            safe_call("files.upload_v2", services.client.files_upload_v2, channel=dm, file=png,
                      filename=f"heatmap-{days}d.png", title=f"Incidents by hour of week, last {days} days")


def list_follow_ups(services, respond: Respond, user: str) -> None:
    supervisor = services.roles.is_supervisor(user)
    due = services.store.due_follow_ups(services.now(), owner=None if supervisor else user, workspace=current_scope())
    if not due:
        respond(text="No follow-ups due. :tada:")
        return
    lines = [f"• {f.due_at:%Y-%m-%d %H:%M} `{f.when}` {f.action} — <#{f.channel}>" + (f" (<@{f.owner}>)" if supervisor else "")
             for f in due[:30]]
    respond(text=f"*Follow-ups due* ({len(due)})\n" + "\n".join(lines))


def who(user: str) -> str:
    """A Slack mention for user IDs; other authors (e.g. 'system') as plain text."""
    return f"<@{user}>" if re.fullmatch(r"[UW][A-Z0-9]+", user) else user


def playbook_summary(playbook: Playbook, current: PlaybookVersion | None) -> list[str]:
    options = sum(len(v) for v in playbook.compensation.values())
    head = (f"*Version {current.version}* by {who(current.author)} on {current.created_at:%Y-%m-%d %H:%M}"
            + (f" — {current.note}" if current.note else "")) if current else "*Version:* from file (not yet versioned)"
    return [head, f"{playbook.company}, currency {playbook.currency}, languages {', '.join(playbook.languages)}",
            f"{options} compensation options across {len(playbook.compensation)} complaint types; "
            f"high-value from {playbook.customer_value.high_value_threshold:,.0f} {playbook.currency}"]


def playbook_command(services, command: dict, respond: Respond, args: list[str]) -> None:
    user = command["user_id"]
    sub = args[0].lower() if args else ""
    if sub not in ADMIN_SUBCOMMANDS:
        respond(text="Usage: `/recover playbook show | upload [file link] | history | rollback N | default`")
        return
    action = f"playbook {sub}"
    if not services.roles.is_admin(user):
        services.store.record_audit(user, action, " ".join(args)[:200], allowed=False)
        respond(text=":no_entry: Only playbook admins (COACH_ADMINS) can do that. This attempt was recorded.")
        log.warning("non-admin playbook command refused", extra={"user": user, "action": action})
        return
    services.playbooks.maybe_reload(force=True)
    if sub == "show":
        services.store.record_audit(user, action, "", allowed=True)
        respond(text="\n".join(playbook_summary(services.engine.playbook, services.playbooks.current())))
    elif sub == "history":
        services.store.record_audit(user, action, "", allowed=True)
        versions = services.playbooks.history(20)
        live = services.playbooks.version if services.playbooks.own or current_scope() is None else None
        lines = [f"• v{v.version} — {who(v.author)} {v.created_at:%Y-%m-%d %H:%M}" + (f" — {v.note}" if v.note else "")
                 + (" *(live)*" if v.version == live else "") for v in versions]
        default = "" if live is not None else "\n_This workspace uses the default playbook._"
        respond(text="*Playbook history*\n" + ("\n".join(lines) or "_none_") + default)
    elif sub == "default":
        if services.playbooks.use_default(user):
            services.store.record_audit(user, action, "", allowed=True)
            respond(text=":white_check_mark: This workspace now uses the default playbook (its own versions are kept; "
                         "`/recover playbook rollback N` brings one back).")
        else:
            respond(text="There is only the default playbook in single-workspace mode.")
    elif sub == "rollback":
        rollback(services, respond, user, args[1] if len(args) > 1 else "")
    elif len(args) > 1:
        if services.inference.submit(upload_from_file, services, respond, user, " ".join(args[1:])) is None:
            _answer(respond, BUSY)
    else:
        opened = safe_call("views.open", services.client.views_open, trigger_id=command["trigger_id"],
                           view=ui.playbook_modal())
        services.store.record_audit(user, action, "modal opened", allowed=True)
        if opened is None:
            respond(text="Could not open the upload form; try `/recover playbook upload <file link>`.")


def rollback(services, respond: Respond, user: str, arg: str) -> None:
    if not arg.lstrip("v").isdigit():
        respond(text="Usage: `/recover playbook rollback N` (see `/recover playbook history`)")
        return
    number = int(arg.lstrip("v"))
    version = services.playbooks.get(number)
    if version is None:
        respond(text=f"There is no playbook version {number}.")
        return
    try:
        saved = services.playbooks.apply(version.yaml_text, author=user, note=f"rollback to v{number}")
    except PlaybookError as exc:
        respond(text=_refusal(exc))
        return
    services.store.record_audit(user, "playbook rollback", f"v{number} -> v{saved.version}", allowed=True)
    respond(text=f":white_check_mark: Rolled back: v{saved.version} (a copy of v{number}) is live in every worker.")


def _refusal(exc: PlaybookError) -> str:
    problems = "\n".join(f"• {p}" for p in exc.problems[:25])
    more = f"\n…and {len(exc.problems) - 25} more" if len(exc.problems) > 25 else ""
    return f":x: Playbook refused; the live one stays.\n{problems}{more}"


def fetch_slack_file(services, file_ref: str | dict[str, Any]) -> bytes:
    """Download a Slack file with the bot token: only from Slack's own hosts (or the configured API host),
    at most MAX_PLAYBOOK_BYTES, within DOWNLOAD_SECONDS; raises ValueError with a sentence for the admin."""
    info = file_ref if isinstance(file_ref, dict) else None
    if info is None or not (info.get("url_private_download") or info.get("url_private")):
        match = FILE_ID.search(str(file_ref.get("id", "")) if isinstance(file_ref, dict) else str(file_ref))
        if not match:
            raise ValueError("give a file link or ID (F…)")
        response = safe_call("files.info", services.client.files_info, file=match.group(1))
        file = response.get("file") if response is not None else None
        if not isinstance(file, dict):
            raise ValueError("I can't read that file (is it shared where the bot can see it?)")
        info = file
    size = info.get("size")
    if isinstance(size, int) and size > MAX_PLAYBOOK_BYTES:
        raise ValueError(_too_large(size))
    url = info.get("url_private_download") or info.get("url_private")
    if not isinstance(url, str):
        raise ValueError("that file has no download link")
    host = urlparse(url).hostname or ""
    if not (host == "slack.com" or host.endswith(".slack.com") or host == urlparse(services.client.base_url).hostname):
        raise ValueError("refusing to send the bot token to a non-Slack host")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {services.client.token}"})
    deadline = time.monotonic() + DOWNLOAD_SECONDS
    chunks: list[bytes] = []
    received = 0
    try:
        # per-read timeout half the budget: a server that stalls or drips costs at most ~1.5x DOWNLOAD_SECONDS
        with urllib.request.urlopen(request, timeout=DOWNLOAD_SECONDS / 2) as response:  # noqa: S310 (host checked)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_PLAYBOOK_BYTES:
                raise ValueError(_too_large(int(declared)))
            while received <= MAX_PLAYBOOK_BYTES:
                chunk = response.read1(64 * 1024) if hasattr(response, "read1") else response.read(64 * 1024)
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
                if time.monotonic() > deadline:
                    raise ValueError(f"the download took longer than {DOWNLOAD_SECONDS:.0f} s; try again")
    except (OSError, http.client.HTTPException) as exc:
        raise ValueError(f"I couldn't download that file ({type(exc).__name__})") from None
    if received > MAX_PLAYBOOK_BYTES:
        raise ValueError(_too_large(received, at_least=True))
    return b"".join(chunks)


def _too_large(size: int, at_least: bool = False) -> str:
    return (f"the file is {'over ' if at_least else ''}{size:,} bytes; a playbook may be at most "
            f"{MAX_PLAYBOOK_BYTES:,} bytes ({MAX_PLAYBOOK_BYTES // 1024} KB)")


@dataclass(frozen=True)
class UploadVerdict:
    """What an admin is told about an upload: accepted (with the new version) or why not."""

    accepted: bool
    text: str
    problems: tuple[str, ...] = ()


def apply_upload(services, user: str, source: Callable[[], str | bytes], note: str) -> UploadVerdict:
    """Fetch, validate and make live; never raises, so that every upload gets an answer."""
    try:
        raw = source()
        text = decode_playbook(raw, "uploaded playbook") if isinstance(raw, bytes) else raw
        if not text.strip():
            return UploadVerdict(False, ":x: That file is empty; the live playbook stays.", ("the file is empty",))
        saved = services.playbooks.apply(text, author=user, note=note)
    except ValueError as exc:  # PlaybookError is a ValueError too
        if isinstance(exc, PlaybookError):
            services.store.record_audit(user, "playbook upload", f"refused: {len(exc.problems)} problem(s)",
                                        allowed=True)
            return UploadVerdict(False, _refusal(exc), tuple(str(p) for p in exc.problems))
        return UploadVerdict(False, f":x: {exc}; the live playbook stays.", (str(exc),))
    except Exception as exc:  # storage down, a bug: still answer, never leave the admin waiting
        log.error("playbook upload failed", extra={"user": user, "error": type(exc).__name__})
        return UploadVerdict(False, ":x: The upload could not be completed (internal error); the live playbook "
                                    "stays. Try again, or ask whoever runs the bot to check its log.",
                             ("internal error; try again",))
    services.store.record_audit(user, "playbook upload", f"v{saved.version}", allowed=True)
    return UploadVerdict(True, f":white_check_mark: Playbook v{saved.version} is live in every worker.")


def _answer(respond: Respond, text: str) -> None:
    try:
        respond(text=text)
    except Exception as exc:  # the response_url may have expired; nothing else to tell
        log.warning("could not answer on the response_url", extra={"error": type(exc).__name__})


def upload_from_file(services, respond: Respond, user: str, file_ref: str) -> None:
    """`/recover playbook upload <link>`: runs after the ack, answers on the command's response_url."""
    verdict = apply_upload(services, user, lambda: fetch_slack_file(services, file_ref), "uploaded file")
    _answer(respond, verdict.text)


def _apply_and_dm(services, user: str, source: Callable[[], str | bytes], note: str) -> UploadVerdict:
    verdict = apply_upload(services, user, source, note)
    _dm(services, user, verdict.text)
    return verdict


def submit_playbook_modal(services, ack: Ack, body: dict, view: dict) -> None:
    """The upload form: fetch and validate in the worker pool; the verdict always goes by DM.

    The form waits up to MODAL_VERDICT_SECONDS so that a refusal shows on the form itself; a slower
    check (a big file, a busy pool) closes the form inside Slack's 3-second window and answers by DM.
    """
    user = body["user"]["id"]
    if not services.roles.is_admin(user):
        services.store.record_audit(user, "playbook upload", "modal", allowed=False)
        ack(response_action="errors", errors={"text": "Only playbook admins (COACH_ADMINS) can change the playbook."})
        return
    values = view["state"]["values"]
    files = ((values.get("file") or {}).get("value") or {}).get("files") or []
    pasted = ((values.get("text") or {}).get("value") or {}).get("value") or ""
    note = (((values.get("note") or {}).get("value") or {}).get("value") or "uploaded in Slack")[:200]
    if not pasted.strip() and not files:
        ack(response_action="errors", errors={"file": "Upload a YAML file or paste one below."})
        return
    block = "text" if pasted.strip() else "file"
    source: Callable[[], str | bytes] = (lambda: pasted) if pasted.strip() else (lambda: fetch_slack_file(services, files[0]))
    future = services.inference.submit(_apply_and_dm, services, user, source, note)
    if future is None:
        ack(response_action="errors", errors={block: BUSY})
        return
    try:
        verdict = future.result(timeout=MODAL_VERDICT_SECONDS)
    except FutureTimeout:
        verdict = None
    if verdict is None or verdict.accepted:
        ack()  # closes the form; the DM carries the verdict
        return
    ack(response_action="errors", errors={block: "; ".join(verdict.problems[:5])[:1500] or verdict.text[:1500]})


def _dm(services, user: str, text: str) -> None:
    dm = services.dm_channel(user)
    if dm:
        safe_call("chat.postMessage", services.client.chat_postMessage, channel=dm, text=text)
