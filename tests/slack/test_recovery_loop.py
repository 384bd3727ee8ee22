"""Issue 12 end to end through the real Bolt app (signed HTTP, recording fake Slack): the recovery loop."""
from __future__ import annotations

import json
import time

from bot.classify.language import LanguageDetector
from bot.coach.models import Classification
from bot.engine import RecoveryEngine
from bot.slack.driver import buttons
from tests.slack.conftest import AGENTS, CHANNEL, CUSTOMER, FakeClassifier, card_for, wait_for_value

AGENT = AGENTS[0]


def _card_text(call) -> str:
    return call.blocks_text()


class DetectingClassifier(FakeClassifier):
    """The fake model's labels with the real language detector, as the served classifier does it."""

    detector = LanguageDetector()

    def classify(self, text: str) -> Classification:
        labels = super().classify(text)
        return labels.model_copy(update={"language": self.detector.detect(text)})


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
    assert wait_for_value(lambda: _correction_rows(bot.services.store)) == [("frustrated", None)]
    [row] = bot.services.store.corrections_for_training()
    assert row["tone"] == "frustrated" and row["complaint"] is None  # the model's 'billing' is not fed back


def test_picking_the_models_own_label_is_no_correction(bot):
    view = _open_form(bot)
    bot.driver.submit_view(AGENT, view, _pick(tone="angry", complaint="refund"))
    bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "correction saved" in (c.args.get("text") or ""))
    assert wait_for_value(lambda: _correction_rows(bot.services.store)) == [(None, "refund")]


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
    assert wait_for_value(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, named["ts"]))
    assert _incident_columns(bot.services.store, named["ts"]) == ("wiper blades", "order 48213")

    unnamed, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 55120", CHANNEL)
    card_for(bot.fake, AGENT, count=2)
    assert wait_for_value(lambda: bot.services.store.incident_for_thread("TOURS", CHANNEL, unnamed["ts"]))
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


# ---------------------------------------------------------------------------- item 4: approvals that hold
LEAD = "ULEAD"


def _approval_bot(make_bot, fake, settings, tmp_path, minutes: float = 15):
    """Leads and supervisors configured; the shipped playbook with its approval wait set to `minutes`."""
    from tests.conftest import PLAYBOOK_PATH

    fake.add_user(LEAD)
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(PLAYBOOK_PATH.read_text(encoding="utf-8").replace(
        "fallback_after_minutes: 15", f"fallback_after_minutes: {minutes}"), encoding="utf-8")
    return make_bot(settings_=settings.model_copy(update={"coach_leads": [LEAD], "coach_playbook": playbook}))


def _ask_approval(bot):
    """An angry double charge: the agent may give 10 USD credit; 25 USD needs a lead (leads and supervisors asked)."""
    bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)
    card = card_for(bot.fake, AGENT)
    above = buttons(card.args)["coach_offer_above"]
    assert json.loads(above["value"])["o"]["authority"] == "lead"
    bot.driver.click(AGENT, above, CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "Asked" in (c.args.get("text") or ""))
    return {user: bot.fake.wait_for("chat.postMessage", channel=f"D{user}")[0] for user in (LEAD, SUPERVISOR_ID)}


SUPERVISOR_ID = "USUP"


def _states(store) -> list[tuple[str, str, str | None]]:
    from sqlalchemy import select

    from bot.storage.tables import Compensation

    with store.read_session() as s:
        return [(c.option_id, c.state, c.approver) for c in s.scalars(select(Compensation).order_by(Compensation.id))]


def _copy_ts(bot, user: str) -> str:
    """The ts of `user`'s copy of the request, from the places every copy's buttons carry."""
    refs = json.loads(_latest_button(bot, user, "coach_approve")["value"])["r"]
    return next(ts for channel, ts in refs if channel == f"D{user}")


def _latest_button(bot, user: str, action_id: str) -> dict:
    """The button as the approver last saw it (a stale client may still show it after the decision)."""
    shown = bot.fake.calls_of("chat.postMessage", channel=f"D{user}") + bot.fake.calls_of("chat.update", channel=f"D{user}")
    return [buttons(c.args)[action_id] for c in sorted(shown, key=lambda c: c.at) if action_id in buttons(c.args)][-1]


def test_two_approvers_first_wins(make_bot, fake, settings, tmp_path):
    bot = _approval_bot(make_bot, fake, settings, tmp_path)
    _ask_approval(bot)
    asked = [c for c in bot.fake.calls_of("response_url") if "Asked" in (c.args.get("text") or "")][0].args["text"]
    assert f"<@{LEAD}>" in asked and f"<@{SUPERVISOR_ID}>" in asked
    wait_for_value(lambda: len(bot.fake.calls_of("chat.update")) >= 2)  # each copy learns where the others are

    lead_ts, sup_ts = _copy_ts(bot, LEAD), _copy_ts(bot, SUPERVISOR_ID)
    bot.driver.click(SUPERVISOR_ID, _latest_button(bot, SUPERVISOR_ID, "coach_approve"), f"D{SUPERVISOR_ID}",
                     message_ts=sup_ts, ephemeral=False)
    told = bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "approved" in (c.args.get("text") or ""))
    assert f"<@{SUPERVISOR_ID}> approved" in told[0].args["text"]
    final = wait_for_value(lambda: [c for c in bot.fake.calls_of("chat.update") if "This decision is final" in c.blocks_text()])
    assert {c.args["channel"] for c in final} >= {f"D{LEAD}", f"D{SUPERVISOR_ID}"}  # both copies show the winner

    bot.driver.click(LEAD, _latest_button(bot, LEAD, "coach_deny"), f"D{LEAD}", message_ts=lead_ts, ephemeral=False)
    late = bot.fake.wait_for("response_url", where=lambda c: "Already approved" in (c.args.get("text") or ""))[0]
    assert f"<@{SUPERVISOR_ID}>" in late.args["text"] and "UTC" in late.args["text"]
    assert _states(bot.services.store) == [("billing_credit_25", "approved", SUPERVISOR_ID)]
    assert not [c for c in bot.fake.calls_of("chat.postEphemeral", user=AGENT) if "declined" in (c.args.get("text") or "")]


def test_approve_then_deny_keeps_approved(make_bot, fake, settings, tmp_path):
    bot = _approval_bot(make_bot, fake, settings, tmp_path)
    _ask_approval(bot)
    wait_for_value(lambda: len(bot.fake.calls_of("chat.update")) >= 2)
    ts = _copy_ts(bot, LEAD)
    bot.driver.click(LEAD, _latest_button(bot, LEAD, "coach_approve"), f"D{LEAD}", message_ts=ts, ephemeral=False)
    bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "approved" in (c.args.get("text") or ""))
    bot.driver.click(LEAD, _latest_button(bot, LEAD, "coach_deny"), f"D{LEAD}", message_ts=ts, ephemeral=False)
    late = bot.fake.wait_for("response_url", where=lambda c: "Already approved" in (c.args.get("text") or ""))[0]
    assert f"by <@{LEAD}> at " in late.args["text"] and "final" in late.args["text"]
    time.sleep(0.3)
    assert _states(bot.services.store) == [("billing_credit_25", "approved", LEAD)]
    verdicts = [c.args["text"] for c in bot.fake.calls_of("chat.postEphemeral", user=AGENT)
                if "approved" in (c.args.get("text") or "") or "declined" in (c.args.get("text") or "")]
    assert len(verdicts) == 1 and "approved" in verdicts[0]  # the agent is never told both


def test_no_answer_falls_back_to_what_the_agent_may_give(make_bot, fake, settings, tmp_path):
    bot = _approval_bot(make_bot, fake, settings, tmp_path, minutes=0.005)  # 0.3 s
    _ask_approval(bot)
    fallback = bot.fake.wait_for("chat.postEphemeral", user=AGENT,
                                 where=lambda c: "No one has decided" in (c.args.get("text") or ""))[0]
    assert "Store credit of 10 USD for the trouble" in fallback.args["text"]  # the agent's own option
    assert _states(bot.services.store)[0][1] == "pending_approval"  # the request stays open


def test_a_decision_in_time_cancels_the_fallback(make_bot, fake, settings, tmp_path):
    bot = _approval_bot(make_bot, fake, settings, tmp_path, minutes=0.02)  # 1.2 s
    _ask_approval(bot)
    wait_for_value(lambda: len(bot.fake.calls_of("chat.update")) >= 2)
    bot.driver.click(LEAD, _latest_button(bot, LEAD, "coach_approve"), f"D{LEAD}",
                     message_ts=_copy_ts(bot, LEAD), ephemeral=False)
    bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "approved" in (c.args.get("text") or ""))
    time.sleep(1.6)
    assert not [c for c in bot.fake.calls_of("chat.postEphemeral", user=AGENT)
                if "No one has decided" in (c.args.get("text") or "")]


def test_offers_given_count_in_stats(make_bot, fake, settings, tmp_path):
    from bot.storage.stats import compute_stats

    bot = _approval_bot(make_bot, fake, settings, tmp_path)
    _ask_approval(bot)  # first thread: 25 USD approved by the lead
    wait_for_value(lambda: len(bot.fake.calls_of("chat.update")) >= 2)
    bot.driver.click(LEAD, _latest_button(bot, LEAD, "coach_approve"), f"D{LEAD}",
                     message_ts=_copy_ts(bot, LEAD), ephemeral=False)
    bot.fake.wait_for("chat.postEphemeral", user=AGENT, where=lambda c: "approved" in (c.args.get("text") or ""))
    bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)  # second thread: the agent gives their own
    card = card_for(bot.fake, AGENT, count=2)
    bot.driver.click(AGENT, buttons(card.args)["coach_offer"], CHANNEL)
    bot.fake.wait_for("response_url", where=lambda c: "recorded as given" in (c.args.get("text") or ""))
    stats = compute_stats(bot.services.store, 7, bot.services.now())
    assert stats.offers_given == 2 and stats.offers_by_state == {"approved": 1, "given": 1}
    assert stats.compensation_cost == {"USD": 25 + 15}  # the agent's own offer counts in the cost now
