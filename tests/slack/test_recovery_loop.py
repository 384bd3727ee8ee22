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


# ---------------------------------------------------------------------------- item 6: honest feedback
def _correction_rows(store) -> list[tuple[str | None, str | None]]:
    from sqlalchemy import select

    from bot.storage.tables import Correction

    with store.read_session() as s:
        return [(c.tone, c.complaint) for c in s.scalars(select(Correction).order_by(Correction.id)).all()]


def _open_form(bot):
    bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)  # angry / billing
    card = card_for(bot.fake, AGENT)
    bot.driver.click(AGENT, buttons(card.args)["coach_wrong_label"], CHANNEL)
    view = bot.fake.wait_for("views.open")[-1].args["view"]
    return json.loads(view) if isinstance(view, str) else view


def _pick(tone: str | None = None, complaint: str | None = None) -> dict:
    def state(label):
        return {"value": {"type": "static_select", "selected_option": {"value": label} if label else None}}
    return {"tone": state(tone), "complaint": state(complaint)}


def test_the_correction_form_starts_empty_per_head(bot):
    view = _open_form(bot)
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["block_id"] for b in inputs] == ["tone", "complaint"]
    assert all(b.get("optional") and "initial_option" not in b["element"] for b in inputs)
    assert "tone *angry*, complaint *billing*" in view["blocks"][0]["text"]["text"]  # what the coach read


def test_a_corrected_tone_only_stores_the_tone(bot):
    view = _open_form(bot)
    assert bot.driver.submit_view(AGENT, view, _pick(tone="frustrated")).status == 200
    confirmed = bot.fake.wait_for("chat.postEphemeral", user=AGENT,
                                  where=lambda c: "correction saved" in (c.args.get("text") or ""))[0]
    assert "tone angry → frustrated" in confirmed.args["text"] and "complaint" not in confirmed.args["text"]
    assert _wait(lambda: _correction_rows(bot.services.store)) == [("frustrated", None)]
    [row] = bot.services.store.corrections_for_training()
    assert row["tone"] == "frustrated" and row["complaint"] is None  # the model's 'billing' is not fed back


def test_picking_the_models_own_label_is_no_correction(bot):
    view = _open_form(bot)
    bot.driver.submit_view(AGENT, view, _pick(tone="angry", complaint="refund"))
    bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "correction saved" in (c.args.get("text") or ""))
    assert _wait(lambda: _correction_rows(bot.services.store)) == [(None, "refund")]


def test_an_unchanged_form_stores_nothing_and_says_so(bot):
    view = _open_form(bot)
    bot.driver.submit_view(AGENT, view, _pick(tone="angry"))  # the model's own guess, resubmitted
    told = bot.fake.wait_for("chat.postEphemeral", user=AGENT,
                             where=lambda c: "Nothing changed" in (c.args.get("text") or ""))[0]
    assert told.args["user"] == AGENT
    assert _correction_rows(bot.services.store) == []
    assert bot.services.store.corrections_for_training() == []


# ---------------------------------------------------------------------------- item 10: product, not order number
def _incident_columns(store, thread_ts: str) -> tuple[str | None, str | None]:
    from sqlalchemy import select

    from bot.storage.tables import Incident

    with store.read_session() as s:
        row = s.scalars(select(Incident).where(Incident.thread_ts == thread_ts)).one()
        return row.product, row.order_ref


def test_incident_product_comes_from_the_catalogue_and_the_order_number_is_a_reference(bot):
    named, _ = bot.driver.message(CUSTOMER, "My wiper blades are broken, order 48213", CHANNEL)
    card_for(bot.fake, AGENT)
    assert _wait(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, named["ts"]))
    assert _incident_columns(bot.services.store, named["ts"]) == ("wiper blades", "order 48213")

    unnamed, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 55120", CHANNEL)
    card_for(bot.fake, AGENT, count=2)
    assert _wait(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, unnamed["ts"]))
    assert _incident_columns(bot.services.store, unnamed["ts"]) == (None, "order 55120")


# ---------------------------------------------------------------------------- item 1: customer memory
def test_a_returning_customers_card_shows_the_history(bot):
    from tests.slack.conftest import SUPERVISOR

    first, _ = bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)
    card = card_for(bot.fake, AGENT)
    assert "first contact" in _card_text(card)
    bot.driver.click(AGENT, buttons(card.args)["coach_offer"], CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "Offer recorded" in (c.args.get("text") or ""))
    bot.driver.click(AGENT, buttons(card.args)["coach_resolved"], CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "resolved" in (c.args.get("text") or ""))

    second, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)  # a new thread
    card = card_for(bot.fake, AGENT, count=2)
    assert card.args["thread_ts"] == second["ts"]
    line = next(b for b in json.loads(json.dumps(card.args["blocks"])) if "Customer memory" in json.dumps(b))
    text = json.dumps(line, ensure_ascii=False)
    assert "1 earlier incident" in text and "delivery" in text and "resolved" in text
    assert "flagged" in text and "open follow-up" in text and "last given: 'Free express re-shipment'" in text

    link = f"<https://ours.slack.com/archives/{CHANNEL}/p{second['ts'].replace('.', '')}>"
    bot.driver.command(SUPERVISOR, link, CHANNEL)
    full = bot.fake.wait_for("response_url", where=lambda c: "Recovery coach" in (c.args.get("text") or ""))[-1]
    full_text = full.blocks_text()
    assert "Customer memory" in full_text and "tone frustrated → frustrated, resolved" in full_text
    assert "given: 'Free express re-shipment' (15 USD)" in full_text and "Open follow-ups" in full_text
    assert "Returning customer: 1 earlier incident" in full_text
