"""/recover: plan, stats, followups, help, usage, and playbook administration across workers."""
from __future__ import annotations

import json
import time

from bot.slack.driver import buttons
from tests.slack.conftest import ADMIN, AGENTS, CHANNEL, CUSTOMER, SUPERVISOR, card_for

AGENT = AGENTS[0]


def _response(bot, contains: str, timeout: float = 10.0):
    return bot.fake.wait_for("response_url", timeout=timeout, where=lambda c: contains in (c.args.get("text") or ""))[-1]


def _view(call) -> dict:
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else view


def test_help_and_unknown_subcommand(bot):
    assert bot.driver.command(AGENT, "help", CHANNEL).status == 200
    assert "/recover stats" in _response(bot, "Recovery Coach").args["text"]
    bot.driver.command(AGENT, "frobnicate", CHANNEL)
    assert "didn't understand" in _response(bot, "didn't understand").args["text"]
    assert all(c.args.get("response_type") != "in_channel" for c in bot.fake.calls_of("response_url"))


def test_full_plan_from_a_message_link(bot):
    message, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)
    card_for(bot.fake, AGENT)
    link = f"<https://ours.slack.com/archives/{CHANNEL}/p{message['ts'].replace('.', '')}>"
    bot.driver.command(SUPERVISOR, link, CHANNEL)
    plan = _response(bot, "Recovery coach")
    text = plan.blocks_text()
    assert "billing" in text and "Severity" in text and "Not asking for the order id" in text  # 'why' lines: full plan
    assert "coach_send_apology" in buttons(plan.args)


def test_a_thread_plan_reads_the_stored_labels_so_an_agents_correction_holds(bot):
    """/recover <link> plans with the labels the live card stored (the agent's correction first), classifying only
    messages the bot never stored; before, it classified the whole thread again and dropped the correction."""
    message, _ = bot.driver.message(CUSTOMER, "I was charged twice for order 12345", CHANNEL)  # angry / billing
    card = card_for(bot.fake, AGENT)
    bot.driver.click(AGENT, buttons(card.args)["coach_wrong_label"], CHANNEL)
    view = _view(bot.fake.wait_for("views.open")[-1])
    picked = {"tone": {"value": {"type": "static_select", "selected_option": None}},
              "complaint": {"value": {"type": "static_select", "selected_option": {"value": "refund"}}}}
    bot.driver.submit_view(AGENT, view, picked)
    bot.fake.wait_for("chat.postEphemeral", user=AGENT,
                      where=lambda c: "correction saved" in (c.args.get("text") or ""))
    calls = bot.services.engine.classifier.calls
    link = f"<https://ours.slack.com/archives/{CHANNEL}/p{message['ts'].replace('.', '')}>"
    bot.driver.command(SUPERVISOR, link, CHANNEL)
    text = _response(bot, "Recovery coach").blocks_text()
    assert "*Complaint:* refund" in text and "*Complaint:* billing" not in text
    assert bot.services.engine.classifier.calls == calls  # read as stored, not classified again


def test_bare_recover_in_a_channel_uses_its_latest_open_incident(bot):
    bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)
    card_for(bot.fake, AGENT)
    bot.driver.command(SUPERVISOR, "", CHANNEL)
    assert "delivery" in _response(bot, "Recovery coach").blocks_text()


def test_plan_and_stats_are_for_supervisors_only(bot):
    bot.driver.command(AGENT, "stats", CHANNEL)
    _response(bot, "Only supervisors")
    refused = [a for a in bot.services.store.audit_log() if not a.allowed]
    assert [(a.actor, a.action) for a in refused] == [(AGENT, "recover stats")]


def test_stats_answers_privately_and_sends_the_heat_map_by_dm(bot):
    bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL)
    card_for(bot.fake, AGENT)
    bot.driver.command(SUPERVISOR, "stats 30d", CHANNEL)
    stats = _response(bot, "30 days")
    assert "billing" in stats.args["text"] and "1 incidents" in stats.args["text"]
    upload = bot.fake.wait_for("files.completeUploadExternal")[0]
    assert upload.args["channel_id"] == f"D{SUPERVISOR}"  # the heat map goes to the supervisor's DM
    [png] = [c for c in bot.fake.calls_of("upload")]
    assert png.args["bytes"] > 1000
    bot.driver.command(SUPERVISOR, "stats 9000d", CHANNEL)
    _response(bot, "Usage: `/recover stats")
    assert bot.fake.visible_posts(CHANNEL) == []


def test_followups_lists_what_is_due(bot):
    bot.driver.command(AGENT, "followups", CHANNEL)
    _response(bot, "No follow-ups due")
    bot.driver.message(CUSTOMER, "My parcel is still not here", CHANNEL)
    card = card_for(bot.fake, AGENT)
    bot.driver.click(AGENT, buttons(card.args)["coach_resolved"], CHANNEL)
    _response(bot, "Marked resolved")
    bot.driver.command(AGENT, "followups", CHANNEL)
    listing = _response(bot, "Follow-ups due").args["text"]
    assert "Confirm with the customer" in listing


def _playbook_upload(bot, user: str, content: bytes, via: str = "modal"):
    info = bot.fake.add_file(content)
    if via == "command":
        return bot.driver.command(user, f"playbook upload <https://ours.slack.com/files/{user}/{info['id']}/pb.yaml>", CHANNEL)
    bot.driver.command(user, "playbook upload", CHANNEL)
    view = _view(bot.fake.wait_for("views.open")[-1])
    assert view["callback_id"] == "coach_playbook_upload"
    values = {"file": {"value": {"type": "file_input", "files": [info]}},
              "text": {"value": {"type": "plain_text_input", "value": None}},
              "note": {"value": {"type": "plain_text_input", "value": "rename company"}}}
    return bot.driver.submit_view(user, view, values)


def test_admin_uploads_a_good_playbook_and_every_worker_switches(make_bot, playbook_text):
    worker_a, worker_b = make_bot(), make_bot()
    assert worker_b.services.playbooks.version == 1
    reply = _playbook_upload(worker_a, ADMIN, playbook_text.replace("company: Acme Store", "company: Zeta Shop").encode())
    assert reply.status == 200 and not reply.body  # plain ack: the modal closes
    current = worker_a.services.store.current_playbook()
    assert (current.version, current.author, current.note) == (2, ADMIN, "rename company")
    assert worker_a.services.engine.playbook.company == "Zeta Shop"
    worker_a.fake.wait_for("chat.postMessage", channel=f"D{ADMIN}", where=lambda c: "v2 is live" in c.args["text"])

    # the other worker picks it up on its next request
    worker_b.driver.open_home(AGENT)
    home = worker_b.fake.wait_for("views.publish")[-1]
    assert "Zeta Shop" in home.blocks_text() and worker_b.services.engine.playbook.company == "Zeta Shop"

    worker_a.driver.command(ADMIN, "playbook history", CHANNEL)
    history = _response(worker_a, "Playbook history").args["text"]
    assert "v2" in history and "rename company" in history and "v1" in history

    worker_a.driver.command(ADMIN, "playbook rollback 1", CHANNEL)
    _response(worker_a, "Rolled back: v3")
    worker_b.driver.command(ADMIN, "playbook show", CHANNEL)
    assert "Version 3" in _response(worker_b, "Version 3").args["text"]
    assert worker_b.services.engine.playbook.company == "Acme Store"


def test_bad_playbook_is_refused_with_the_errors_and_the_live_one_stays(bot, playbook_text):
    bad = playbook_text.replace("languages: [en, ru, zh, et]", "languages: [ru, zh, et]")
    reply = _playbook_upload(bot, ADMIN, bad.encode())
    body = reply.json()
    assert body["response_action"] == "errors" and "must include 'en'" in body["errors"]["file"]
    assert bot.services.store.current_playbook().version == 1
    assert bot.services.engine.playbook.company == "Acme Store"
    dm = bot.fake.wait_for("chat.postMessage", channel=f"D{ADMIN}")[0]
    assert "refused" in dm.args["text"] and "languages" in dm.args["text"]

    _playbook_upload(bot, ADMIN, b"company: [unclosed", via="command")
    assert "not valid YAML" in _response(bot, "refused").args["text"]
    assert bot.services.store.current_playbook().version == 1


def test_admin_uploads_a_file_shared_in_slack_by_link(bot, playbook_text):
    _playbook_upload(bot, ADMIN, playbook_text.replace("currency: USD\n", "currency: EUR\n", 1).encode(), via="command")
    _response(bot, "v2 is live")
    assert bot.services.engine.playbook.currency == "EUR"


def test_non_admin_playbook_commands_are_refused_and_audited(bot, playbook_text):
    for text in ("playbook upload", "playbook rollback 1", "playbook show"):
        bot.driver.command(SUPERVISOR, text, CHANNEL)
    time.sleep(0.3)
    assert len(bot.fake.calls_of("response_url", where=None)) >= 3
    refusals = [a for a in bot.services.store.audit_log() if not a.allowed]
    assert {a.action for a in refusals} == {"playbook upload", "playbook rollback", "playbook show"}
    assert all(a.actor == SUPERVISOR for a in refusals)
    assert bot.fake.calls_of("views.open") == []
    # the modal itself is guarded too
    from bot.render.blocks import playbook_modal

    reply = bot.driver.submit_view(AGENTS[1], playbook_modal(), {"text": {"value": {"value": playbook_text}}})
    assert reply.json()["response_action"] == "errors"
    assert bot.services.store.current_playbook().version == 1


def test_app_home_shows_playbook_incidents_and_follow_ups(bot):
    bot.driver.message(CUSTOMER, "I was charged twice", CHANNEL)
    card_for(bot.fake, AGENT)
    bot.driver.open_home(AGENT)
    home = bot.fake.wait_for("views.publish")[0]
    text = home.blocks_text()
    assert home.args["user_id"] == AGENT
    assert "Acme Store" in text and "billing" in text and "Your follow-ups due" in text
