"""Check an agent's reply in a customer thread against the method, and nudge them privately.

Four faults, in four languages: a qualified apology ("sorry, but…", "sorry if you feel…", and a "but",
"however" or "although" anywhere that leads to blame, policy or a refusal), "policy" or "terms" given as the
reason, blame on another department or the customer, and a refusal ("there is nothing I can do"). The
playbook's own `banned_phrases` for each language are checked too, so an admin can add phrases without a
release; the shapes shared with the playbook validator live in bot/playbook/text.py (`find_qualifiers`).
The nudge is an ephemeral message to that agent only, in the language they wrote in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.coach.checklist import detect_steps
from bot.playbook import Playbook
from bot.playbook.text import find_qualifiers, normalise_phrase
from bot.slack.logging import fingerprint, get_logger
from bot.slack.resilience import safe_call

log = get_logger("slack.nudges")
Reason = Literal["qualified", "policy", "blame", "refusal"]

PATTERNS: dict[str, dict[Reason, re.Pattern[str]]] = {
    "en": {
        "qualified": re.compile(r"\b(sorry|apologi[sz]e|apologies)\b[^.!?]{0,40}?\bbut\b|\bsorry (if|that) you (feel|felt|think)", re.I),
        "policy": re.compile(r"\bpolic(y|ies)\b|\b(our|company) rules\b", re.I),
        "blame": re.compile(r"\b(another|other|different) (department|team)\b|\bnot (our|my) fault\b|\byour (own )?fault\b"
                            r"|\byou should have\b|\byou misunderstood\b|\b(warehouse|courier|carrier|shipping|billing)(['’]s)? (fault|mistake|problem)\b", re.I),
    },
    "ru": {
        "qualified": re.compile(r"(извините|простите|прошу прощения|сожалею|мне жаль)[^.!?]{0,40}?\bно\b|если вам (так )?(показалось|кажется)", re.I),
        "policy": re.compile(r"политик|наши правила|по правилам", re.I),
        "blame": re.compile(r"друг(ой|ого|ому|им) отдел|не наша вина|не по нашей вине|вы (сами )?должны были|вам следовало"
                            r"|сами виноваты|вы неправильно поняли", re.I),
    },
    "zh": {
        "qualified": re.compile(r"(对不起|抱歉|不好意思)[^。！？!?]{0,20}?(但|可是|不过)|如果(您|你|让您)觉得"),
        "policy": re.compile(r"规定|政策"),
        "blame": re.compile(r"(其他|别的)部门|不是我们的(错|责任)|(您|你)应该|(您|你)误会了"),
    },
    "et": {
        "qualified": re.compile(r"\b(vabandust|vabandan|vabandame|kahju)\b[^.!?]{0,40}?\baga\b|kui teile (tundub|tundus)", re.I),
        "policy": re.compile(r"poliitika|meie reegli", re.I),
        "blame": re.compile(r"teis(e|t|ele)? osakon|(pole|ei ole) meie süü|oleksite pidanud|valesti aru", re.I),
    },
}

NUDGES: dict[str, dict[Reason, str]] = {
    "en": {
        "qualified": "Coach: “{phrase}” qualifies the apology. Apologise fully (no “but”, no “if you feel”) and say what you will do.",
        "policy": "Coach: “{phrase}” gives policy as the reason. Tell the customer what you *can* do for them instead.",
        "blame": "Coach: “{phrase}” puts the blame on someone else. Own it for the company: “I'm sorry, I'll sort this out.”",
        "refusal": "Coach: “{phrase}” tells the customer no. Say what you *can* do now, or ask a lead: you are allowed to escalate.",
    },
    "ru": {
        "qualified": "Коуч: «{phrase}» делает извинение условным. Извинитесь полностью (без «но» и «если вам показалось») и скажите, что вы сделаете.",
        "policy": "Коуч: «{phrase}» ссылается на правила. Лучше скажите клиенту, что вы *можете* для него сделать.",
        "blame": "Коуч: «{phrase}» перекладывает вину. Возьмите ответственность на себя: «Простите, я всё исправлю».",
        "refusal": "Коуч: «{phrase}» — это отказ. Скажите, что вы *можете* сделать сейчас, или подключите руководителя: эскалировать можно.",
    },
    "zh": {
        "qualified": "教练提示：“{phrase}”让道歉打了折扣。请完整地道歉（不要说“但是”或“如果您觉得”），并说明您将怎么做。",
        "policy": "教练提示：“{phrase}”把规定当作理由。请告诉客户您*能*为他做什么。",
        "blame": "教练提示：“{phrase}”把责任推给了别人。请代表公司承担责任：“很抱歉，我来处理好这件事。”",
        "refusal": "教练提示：“{phrase}”等于拒绝客户。请说明您现在*能*做什么，或请主管协助：您可以升级处理。",
    },
    "et": {
        "qualified": "Treener: „{phrase}“ muudab vabanduse tingimuslikuks. Vabandage täielikult (ilma „aga“ ja „kui teile tundub“) ja öelge, mida te teete.",
        "policy": "Treener: „{phrase}“ toob põhjuseks reeglid. Öelge kliendile pigem, mida te *saate* tema heaks teha.",
        "blame": "Treener: „{phrase}“ veeretab süü teistele. Võtke vastutus: „Vabandan, ma lahendan selle.“",
        "refusal": "Treener: „{phrase}“ ütleb kliendile ei. Öelge, mida te *saate* kohe teha, või kaasake juht: eskaleerida tohib.",
    },
}


@dataclass(frozen=True)
class Finding:
    language: str
    reason: Reason
    phrase: str


def _reason_of(phrase: str, language: str) -> Reason:
    for reason in ("policy", "blame", "qualified"):
        if PATTERNS[language][reason].search(phrase):  # type: ignore[index]
            return reason  # type: ignore[return-value]
    shaped = find_qualifiers(phrase, [language])
    return shaped[0].reason if shaped and not shaped[0].contrast else "qualified"


def find_faults(text: str, playbook: Playbook) -> list[Finding]:
    """Every fault found, playbook phrases first; one per reason.

    Both the reply and the phrases are normalised first (NFKC, casefold, invisible characters dropped,
    any whitespace run as one space), so "sorry,\u00a0 but" is caught like "sorry, but".
    """
    normalised, readable = normalise_phrase(text), normalise_phrase(text, casefold=False)
    found: dict[Reason, Finding] = {}
    for language, phrases in playbook.banned_phrases.items():
        if language not in PATTERNS:
            continue
        for phrase in phrases:
            needle = normalise_phrase(phrase)
            if needle and needle in normalised:
                reason = _reason_of(phrase, language)
                found.setdefault(reason, Finding(language, reason, phrase))
    for language, rules in PATTERNS.items():
        for reason, pattern in rules.items():
            match = pattern.search(readable)
            if match and reason not in found:
                found[reason] = Finding(language, reason, match.group(0).strip())
    for shape in find_qualifiers(text):  # anywhere: "I understand, but there is nothing I can do"
        if shape.contrast and "qualified" not in found:
            found["qualified"] = Finding(shape.language, "qualified", shape.phrase)
        if shape.reason not in found:
            found[shape.reason] = Finding(shape.language, shape.reason, shape.target)
    return list(found.values())


def nudge_text(findings: list[Finding]) -> str:
    return "\n".join(NUDGES[f.language][f.reason].format(phrase=f.phrase) for f in findings)


def check_agent_reply(services, event: dict, workspace: str) -> bool:
    """Nudge the agent if their thread reply breaks the method; returns whether a nudge was sent."""
    channel, user, thread_ts = event["channel"], event["user"], event["thread_ts"]
    incident = services.store.incident_for_thread(workspace, channel, thread_ts)
    if incident is None:
        return False  # not a customer thread the coach knows
    findings = find_faults(event.get("text") or "", services.engine.playbook)
    nudged = False
    if findings:
        response = safe_call("chat.postEphemeral", services.client.chat_postEphemeral, channel=channel, user=user,
                             thread_ts=thread_ts, text=nudge_text(findings))
        nudged = response is not None
    services.store.record_agent_reply(workspace, channel, thread_ts, user, nudged)
    steps = detect_steps(event.get("text") or "", [f.reason for f in findings])  # the card's checklist
    try:
        services.store.record_checklist_steps(incident.id, steps, "reply", user)
    except Exception as exc:  # the nudge is out: a retry of the whole reply would send it twice
        log.warning("checklist not updated", extra={"incident": incident.id, "error": type(exc).__name__})
    log.info("agent reply checked", extra={"channel": channel, "agent": user, "incident": incident.id,
                                           "faults": [f.reason for f in findings], "steps": sorted(steps),
                                           "text": fingerprint(event.get("text"))})
    return nudged
