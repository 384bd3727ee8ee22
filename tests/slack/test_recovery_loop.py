"""Issue 12 end to end through the real Bolt app (signed HTTP, recording fake Slack): the recovery loop."""
from __future__ import annotations

import json
import time

from bot.classify.language import LanguageDetector
from bot.coach.models import Classification
from bot.engine import RecoveryEngine
from bot.slack.driver import buttons
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, FakeClassifier, card_for

AGENT = AGENTS[0]


def _card_text(call) -> str:
    return call.blocks_text()


class DetectingClassifier(FakeClassifier):
    """The fake model's labels with the real language detector, as the served classifier does it."""

    detector = LanguageDetector()

    def classify(self, text: str) -> Classification:
        labels = super().classify(text)
        return labels.model_copy(update={"language": self.detector.detect(text)})


def _wait(condition, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    return condition()


# ---------------------------------------------------------------------------- item 8: languages
def test_transliterated_russian_gets_a_russian_card(make_bot, settings, playbook):
    bot = make_bot(RecoveryEngine(settings, classifier=DetectingClassifier(), playbook=playbook))
    bot.driver.message(CUSTOMER, "zdravstvuite, mne ne prishel zakaz, still not here", CHANNEL)
    card = card_for(bot.fake, AGENT)
    text = _card_text(card)
    assert "*Language:* ru" in text
    assert "Спасибо за ваше терпение" in text  # the frustrated apology, in Russian
    offer = json.loads(buttons(card.args)["coach_offer"]["value"])["o"]
    assert offer["customer_text"] and any("\u0400" <= ch <= "\u04ff" for ch in offer["customer_text"])
    assert offer["customer_text"] in text  # "Tell the customer:" in the customer's language


def test_an_agents_however_our_terms_is_nudged(bot):
    message, _ = bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)
    card_for(bot.fake, AGENT)
    bot.driver.message(AGENT, "Apologies for the wait, however our terms say it takes 14 days.", CHANNEL,
                       thread_ts=message["ts"])
    nudge = bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "Coach:" in (c.args.get("text") or ""))[0]
    assert "however our terms" in nudge.args["text"] and "policy" in nudge.args["text"]
