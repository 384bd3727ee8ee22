"""A local fake of Slack's Web API: a real HTTP server on 127.0.0.1 that records every call.

Used by the tests and by the sandbox (`coach start` without tokens). It implements the methods the
bot calls, keeps just enough state (users, channel members, messages, files) for them to answer
like Slack, serves response_url and file upload/download URLs, and can be told to fail a method
(429 with Retry-After, or 5xx) a number of times, or for a while (also timeouts), and can answer slowly.
Point a WebClient at it with `WebClient(base_url=fake.api_url)`.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlparse


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)

    def blocks_text(self) -> str:
        """All mrkdwn/plain text inside `blocks` or `view` (and `text`), for assertions and the sandbox."""
        return "\n".join(_texts(self.args.get("blocks")) + _texts(self.args.get("view"))) + "\n" + str(
            self.args.get("text") or "")


def _texts(node: Any) -> list[str]:
    if isinstance(node, str):  # blocks sent form-encoded arrive as a JSON string
        try:
            node = json.loads(node)
        except ValueError:
            return []
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for value in node.values() if isinstance(value, (dict, list)) for t in _texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


class FakeSlack:
    """State and recording; `start()` serves it on an ephemeral loopback port."""

    def __init__(self, team_id: str = "TOURS", bot_user_id: str = "UBOT", enterprise_id: str | None = None):
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.enterprise_id = enterprise_id
        self.users: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.socket_url: str | None = None
        self.calls: list[Call] = []
        self._failures: dict[str, list[tuple[int, int]]] = {}
        self._outages: dict[str, tuple[float, int | str, int, float]] = {}  # method -> (until, status, retry_after, hang)
        self._latency: dict[str, float] = {}
        self._cond = threading.Condition()
        self._last_ts = 0.0
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._caller = threading.local()  # the token of the call being answered (auth.teams.list)
        self.add_user(bot_user_id, name="coach", is_bot=True)

    # ---- setup -------------------------------------------------------------------------------
    def add_user(self, user_id: str, name: str | None = None, team_id: str | None = None, is_bot: bool = False,
                 is_restricted: bool = False, is_ultra_restricted: bool = False, tz: str = "Europe/Tallinn",
                 enterprise_id: str | None = None, email: str | None = None,
                 fields: dict[str, str] | None = None) -> None:
        """`email`: the profile email users.info returns; `fields`: custom profile field id -> value
        (users.profile.get)."""
        user: dict[str, Any] = {"id": user_id, "name": name or user_id.lower(), "team_id": team_id or self.team_id,
                                "is_bot": is_bot, "is_restricted": is_restricted,
                                "is_ultra_restricted": is_ultra_restricted, "deleted": False, "tz": tz,
                                "profile": {"email": email} if email else {}}
        if fields:
            user["profile"]["fields"] = {k: {"value": v, "alt": ""} for k, v in fields.items()}
        if enterprise_id:
            user["enterprise_user"] = {"enterprise_id": enterprise_id}
        self.users[user_id] = user

    def add_channel(self, channel: str, members: list[str]) -> None:
        self.members[channel] = list(members)
        self.messages.setdefault(channel, [])

    def add_message(self, channel: str, user: str, text: str, thread_ts: str | None = None,
                    files: list[dict] | None = None, ts: str | None = None) -> dict[str, Any]:
        """What Slack stores before it sends the event: conversations.replies will return it."""
        message = {"type": "message", "user": user, "text": text, "ts": ts or self.next_ts()}
        if thread_ts:
            message["thread_ts"] = thread_ts
        if files:
            message["files"] = files
        with self._cond:
            self.messages.setdefault(channel, []).append(message)
        return message

    def add_file(self, content: bytes, name: str = "playbook.yaml") -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        info = {"id": file_id, "name": name, "url_private": f"{self.url}/files/{file_id}",
                "url_private_download": f"{self.url}/files/{file_id}/download"}
        self.files[file_id] = {"info": info, "content": content}
        return info

    def next_ts(self) -> str:
        """Like Slack's: the current time with microseconds, strictly increasing."""
        with self._cond:
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"

    def fail_next(self, method: str, status: int = 429, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` answer `status` (429 with Retry-After)."""
        with self._cond:
            self._failures.setdefault(method, []).extend([(status, retry_after)] * times)

    def fail_for(self, method: str, seconds: float, status: int | str = 503, retry_after: int = 1,
                 hang: float = 1.0) -> None:
        """Every call of `method` fails for the next `seconds`: `status` (429 with Retry-After, 5xx), or
        "timeout": the answer is held `hang` seconds (longer than the client waits) and then refused."""
        with self._cond:
            self._outages[method] = (time.monotonic() + seconds, status, retry_after, hang)

    def slow(self, method: str, seconds: float) -> None:
        """Every call of `method` takes `seconds` before it is answered (Slack having a slow day)."""
        with self._cond:
            self._latency[method] = seconds

    def clear_failures(self) -> None:
        with self._cond:
            self._failures.clear()
            self._outages.clear()
            self._latency.clear()

    # ---- inspection ----------------------------------------------------------------------------
    def calls_of(self, method: str | None = None, ok_only: bool = True, **match: Any) -> list[Call]:
        with self._cond:
            calls = list(self.calls)
        return [c for c in calls if (method is None or c.method == method) and (not ok_only or c.status == 200)
                and all(c.args.get(k) == v for k, v in match.items())]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0,
                 where: Callable[[Call], bool] | None = None, **match: Any) -> list[Call]:
        """Block until `count` successful calls match; raise AssertionError with what was seen."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls_of(method, **match) if where is None or where(c)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(c.method, c.status) for c in self.calls]
                    raise AssertionError(f"waited {timeout}s for {count}x {method} {match}; calls: {seen}")
                self._cond.wait(left)

    def visible_posts(self, channel: str) -> list[Call]:
        """Everything others in `channel` can see: messages and files posted there, in-channel responses."""
        visible = {"chat.postMessage", "chat.update", "chat.meMessage", "files.upload", "files.completeUploadExternal"}
        return [c for c in self.calls_of() if (c.method in visible and channel in (c.args.get("channel"), c.args.get("channel_id")))
                or (c.method == "response_url" and c.args.get("response_type") == "in_channel")]

    def reset_calls(self) -> None:
        with self._cond:
            self.calls.clear()

    # ---- server --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "FakeSlack":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parsed = urlparse(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        path = parsed.path
        if path.startswith("/upload/"):
            file_id = path.rsplit("/", 1)[-1]
            self.files.setdefault(file_id, {"info": {"id": file_id}})["content"] = raw
            self._record(Call("upload", {"file_id": file_id, "bytes": len(raw)}))
            return _reply(request, 200, b"OK", "text/plain")
        if path.startswith("/files/"):
            file_id = path.split("/")[2]
            if not (request.headers.get("Authorization") or "").startswith("Bearer ") or file_id not in self.files:
                return _reply(request, 404, b"not found", "text/plain")
            return _reply(request, 200, self.files[file_id]["content"], "application/octet-stream")
        if path.startswith("/response/"):
            self._record(Call("response_url", json.loads(raw or b"{}") | {"url": path}))
            return _reply(request, 200, b"ok", "text/plain")
        if not path.startswith("/api/"):
            return _reply(request, 404, b"not found", "text/plain")
        method = path[len("/api/"):]
        args: dict[str, Any] = dict(parse_qsl(parsed.query))
        content_type = request.headers.get("Content-Type") or ""
        if raw and "json" in content_type:
            args.update(json.loads(raw))
        elif raw:
            args.update(parse_qsl(raw.decode("utf-8")))
        with self._cond:
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
            outage = self._outages.get(method)
            latency = self._latency.get(method, 0.0)
        if failure is None and outage is not None and time.monotonic() < outage[0]:
            if outage[1] == "timeout":
                time.sleep(outage[3])
                self._record(Call(method, args, 0))  # status 0: the client had given up waiting
                try:
                    _reply(request, 504, b'{"ok":false,"error":"timeout"}')
                except OSError:
                    pass  # the client has hung up
                return
            failure = (int(outage[1]), outage[2])
        if latency:
            time.sleep(latency)
        if failure:
            status, retry_after = failure
            self._record(Call(method, args, status))
            headers = {"Retry-After": str(retry_after)} if status == 429 else {}
            error = "ratelimited" if status == 429 else "internal_error"
            return _reply(request, status, json.dumps({"ok": False, "error": error}).encode(), headers=headers)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        self._caller.token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        result = handler(args) if handler else {}
        body = {"ok": True, **result} if "ok" not in result else result
        self._record(Call(method, args, 200 if body.get("ok") else 400))
        _reply(request, 200, json.dumps(body).encode())

    # ---- Web API methods ------------------------------------------------------------------------
    def _m_auth_test(self, args: dict) -> dict:
        return {"team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": "BCOACH", "team": "Our Team",
                "url": "https://ours.slack.com/", "enterprise_id": self.enterprise_id}

    def _m_users_info(self, args: dict) -> dict:
        user = self.users.get(args.get("user", ""))
        return {"user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_users_profile_get(self, args: dict) -> dict:
        user = self.users.get(args.get("user", ""))
        if not user:
            return {"ok": False, "error": "user_not_found"}
        return {"profile": {"fields": (user.get("profile") or {}).get("fields") or {}}}

    def _m_conversations_members(self, args: dict) -> dict:
        if args.get("channel") not in self.members:
            return {"ok": False, "error": "channel_not_found"}
        return {"members": self.members[args["channel"]], "response_metadata": {"next_cursor": ""}}

    def _m_conversations_replies(self, args: dict) -> dict:
        channel, root = args.get("channel", ""), args.get("ts", "")
        if channel not in self.messages:
            return {"ok": False, "error": "channel_not_found"}
        with self._cond:
            thread = [m for m in self.messages[channel] if m["ts"] == root or m.get("thread_ts") == root]
        if not thread:  # like Slack: a ts that names no message of the channel
            return {"ok": False, "error": "thread_not_found"}
        return {"messages": sorted(thread, key=lambda m: float(m["ts"])), "has_more": False}

    def _m_conversations_history(self, args: dict) -> dict:
        with self._cond:
            top = [m for m in self.messages.get(args.get("channel", ""), []) if m.get("thread_ts") in (None, m["ts"])]
        return {"messages": sorted(top, key=lambda m: -float(m["ts"])), "has_more": False}

    def _m_conversations_open(self, args: dict) -> dict:
        return {"channel": {"id": "D" + str(args.get("users", "")).split(",")[0]}}

    def _m_chat_postMessage(self, args: dict) -> dict:
        channel = args.get("channel", "")
        message = {"type": "message", "user": self.bot_user_id, "bot_id": "BCOACH", "text": args.get("text", ""),
                   "ts": self.next_ts()}
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        with self._cond:
            self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": message}

    def _m_chat_postEphemeral(self, args: dict) -> dict:
        members = self.members.get(args.get("channel", ""))
        if members is not None and self.bot_user_id not in members:  # like Slack: the bot must be in the channel
            return {"ok": False, "error": "not_in_channel"}
        return {"message_ts": self.next_ts()}

    def _m_chat_update(self, args: dict) -> dict:
        return {"channel": args.get("channel"), "ts": args.get("ts")}

    def _m_chat_getPermalink(self, args: dict) -> dict:
        ts = str(args.get("message_ts", "")).replace(".", "")
        return {"permalink": f"https://ours.slack.com/archives/{args.get('channel')}/p{ts}"}

    def _m_views_open(self, args: dict) -> dict:
        return {"view": {"id": f"V{next(self._ids):08d}"}}

    _m_views_publish = _m_views_open
    _m_views_update = _m_views_open
    _m_views_push = _m_views_open

    def _m_files_info(self, args: dict) -> dict:
        stored = self.files.get(args.get("file", ""))
        return {"file": stored["info"]} if stored else {"ok": False, "error": "file_not_found"}

    def _m_files_getUploadURLExternal(self, args: dict) -> dict:
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = {"info": {"id": file_id, "name": args.get("filename")}, "content": b""}
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, args: dict) -> dict:
        files = args.get("files")
        files = json.loads(files) if isinstance(files, str) else files or []
        return {"files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}

    def _m_apps_connections_open(self, args: dict) -> dict:
        return {"url": self.socket_url} if self.socket_url else {"ok": False, "error": "not_configured"}

    # ---- OAuth install (multi-workspace mode) --------------------------------------------------
    def grant_install(self, code: str, team_id: str | None, bot_token: str, team_name: str = "",
                      installer: str = "UINSTALLER", refresh_token: str | None = None, expires_in: int | None = None,
                      enterprise_id: str | None = None, enterprise_name: str = "") -> None:
        """What Slack does when a user clicks Allow: `code` (single use) will buy `bot_token` for `team_id` at
        oauth.v2.access (the client id and secret come as HTTP Basic auth, which this fake does not see).
        `enterprise_id` with `team_id=None`: an Enterprise Grid org-wide install (`is_enterprise_install`);
        with a team: a workspace install on a Grid workspace."""
        with self._cond:
            self.__dict__.setdefault("_install_codes", {})[code] = {
                "team_id": team_id, "team_name": team_name or team_id, "bot_token": bot_token, "installer": installer,
                "refresh_token": refresh_token, "expires_in": expires_in, "enterprise_id": enterprise_id,
                "enterprise_name": enterprise_name or enterprise_id}

    def grant_org_workspaces(self, bot_token: str, team_ids: list[str]) -> None:
        """The workspaces an org-wide install's token reaches (what auth.teams.list answers with it)."""
        with self._cond:
            self.__dict__.setdefault("_org_teams", {})[bot_token] = list(team_ids)

    def _m_auth_teams_list(self, args: dict) -> dict:
        """Like Slack's for an org-wide token: its workspaces (one page); a workspace token gets an empty list."""
        teams = self.__dict__.get("_org_teams", {}).get(getattr(self._caller, "token", ""), [])
        return {"teams": [{"id": team, "name": team} for team in teams], "response_metadata": {"next_cursor": ""}}

    def _m_oauth_v2_access(self, args: dict) -> dict:
        """Like Slack's: a granted code buys its token once; any other code is invalid_code."""
        with self._cond:
            grant = self.__dict__.setdefault("_install_codes", {}).pop(args.get("code", ""), None)
        if grant is None:
            return {"ok": False, "error": "invalid_code"}
        answer = {"app_id": "ACOACH", "authed_user": {"id": grant["installer"]}, "token_type": "bot",
                  "scope": args.get("scope") or "chat:write,commands", "access_token": grant["bot_token"],
                  "bot_user_id": self.bot_user_id,
                  "team": {"id": grant["team_id"], "name": grant["team_name"]} if grant["team_id"] else None,
                  "enterprise": {"id": grant["enterprise_id"], "name": grant["enterprise_name"]}
                  if grant["enterprise_id"] else None,
                  "is_enterprise_install": bool(grant["enterprise_id"]) and not grant["team_id"]}
        if grant["refresh_token"]:
            answer |= {"refresh_token": grant["refresh_token"], "expires_in": grant["expires_in"] or 43200}
        return answer


def _reply(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "application/json",
           headers: dict[str, str] | None = None) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        request.send_header(key, value)
    request.end_headers()
    request.wfile.write(body)
