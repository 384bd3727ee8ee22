"""GET /metrics after a few events shows the counts (one process here; gunicorn's workers in
test_gunicorn_serve.py), and only to the bearer of the token when one is set."""
from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from bot.slack.server import BackgroundServer, wsgi_app
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, card_for


def scrape(base: str, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from the text format."""
    request = urllib.request.Request(base + "/metrics", headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid"))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_events_cards_duplicates_errors_and_inference(bot, fake):
    before = scrape(bot.server.url)
    _, first = bot.driver.message(CUSTOMER, "I was charged twice for my order", CHANNEL, event_id="EvMetrics1")
    assert first.status == 200
    card_for(fake, AGENTS[0])
    bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL, event_id="EvMetrics2")
    card_for(fake, AGENTS[0], count=2)
    repeat = {"type": "message", "channel": CHANNEL, "channel_type": "channel", "user": CUSTOMER,
              "text": "I was charged twice for my order", "ts": "1.000001", "team": fake.team_id}
    assert bot.driver.event(repeat, event_id="EvMetrics1", retry_num=1).status == 200  # Slack's retry
    with pytest.raises(SlackApiError):
        bot.services.client.users_info(user="UNOBODY")  # any call through the app's client is counted
    deadline = time.monotonic() + 10
    while True:
        after = scrape(bot.server.url)
        cards = value(after, "coach_cards_sent_total", team="TOURS") - value(before, "coach_cards_sent_total",
                                                                             team="TOURS")
        if cards >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("coach_events_received_total", team="TOURS", kind="message") == 3
    assert delta("coach_events_deduplicated_total", team="TOURS") == 1
    assert cards == 4  # two messages, two agents each
    assert delta("coach_inference_seconds_count") == 2
    assert delta("coach_slack_api_errors_total", method="users.info", code="user_not_found") == 1
    assert delta("coach_events_dropped_total", reason="given_up") == 0


def test_gauges_show_queue_model_and_playbook(bot):
    bot.app.sample_metrics()
    samples = scrape(bot.server.url)
    assert ("coach_inference_queue_depth", ()) in samples
    assert value(samples, "coach_playbook_version", workspace="TOURS") >= 1 or \
        value(samples, "coach_playbook_version", workspace="all") >= 1


def test_metrics_token(bot):
    server = BackgroundServer(wsgi_app(bot.app.bolt, bot.app.ready, metrics_token="s3cret")).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(server.url)
        assert refused.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            scrape(server.url, {"Authorization": "Bearer wrong"})
        assert "coach_events_received_total" in {name for name, _ in scrape(server.url,
                                                                           {"Authorization": "Bearer s3cret"})}
    finally:
        server.stop()
