"""Socket Mode smoke test: slack_sdk's builtin client against a local websocket server.

The fake Web API's apps.connections.open hands out ws://127.0.0.1:PORT/; an event pushed over the
socket must be acked with its envelope id and must yield a private card, as in HTTP mode.
"""
from __future__ import annotations

import json
import queue
import threading
import time

import pytest

from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, card_for

websockets_sync = pytest.importorskip("websockets.sync.server")


def test_event_over_the_socket_yields_a_card(make_bot, fake, settings):
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    acks: queue.Queue[dict] = queue.Queue()
    message = fake.add_message(CHANNEL, CUSTOMER, "I was charged twice!")
    envelope = {
        "envelope_id": "env-1", "type": "events_api", "accepts_response_payload": False, "retry_attempt": 0,
        "payload": {"type": "event_callback", "team_id": "TOURS", "api_app_id": "ACOACH", "event_id": "EvSOCKET1",
                    "event_time": int(time.time()),
                    "event": {"type": "message", "channel": CHANNEL, "team": "TOURS", **message}},
    }

    def session(ws) -> None:
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "ACOACH"}}))
        ws.send(json.dumps(envelope))
        try:
            for raw in ws:
                acks.put(json.loads(raw))
        except Exception:
            pass

    with websockets_sync.serve(session, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        fake.socket_url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/link?ticket=t"
        bot = make_bot(settings_=settings.model_copy(update={"slack_signing_secret": None, "slack_app_token": "xapp-1-test"}))
        handler = SocketModeHandler(bot.app.bolt, "xapp-1-test")
        try:
            handler.connect()
            assert acks.get(timeout=10)["envelope_id"] == "env-1"
            card = card_for(fake, AGENTS[0])
            assert card.args["thread_ts"] == message["ts"] and "billing" in card.blocks_text()
            assert fake.calls_of("apps.connections.open")
            assert fake.visible_posts(CHANNEL) == []
        finally:
            handler.close()
            server.shutdown()
