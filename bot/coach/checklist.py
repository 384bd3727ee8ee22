"""The 8 steps of "a complaint is a gift" (Barlow & Møller, ../shared/seeds), and which of them a thread has done.

1 thank · 2 explain why the complaint is a gift · 3 apologise · 4 promise to act · 5 ask for what is needed ·
6 fix fast · 7 check satisfaction · 8 prevent recurrence. Steps 1-5 and 7 are read from what an agent actually
wrote in the thread (or sent with the card's *Send apology*), in en, ru, zh and et; step 6 is an offer given
or approved, step 7 also a follow-up scheduled with *Resolved*, step 8 the internal flag (bot/storage/checklist.py
reads those from the store). Pure: no Slack, no database.

An apology the lint faults does not count: `detect_steps` drops "apologise" when bot/playbook/text.py's
`find_qualifiers` (shared with the playbook validator and the agent nudges) finds a "but" leading to blame,
policy or a refusal, and when the caller passes the nudges' own findings (bot/slack/nudges.py `find_faults`:
"sorry, but", "sorry if you feel", the playbook's banned phrases). A promise next to a refusal does not
count either. Negated phrases ("I'm not sorry", "no thanks", "不用谢", "ma ei luba") count for nothing.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Literal

from bot.playbook.text import find_qualifiers, normalise_phrase

Step = Literal["thank", "explain", "apologise", "promise", "ask", "fix", "check", "prevent"]
STEPS: tuple[Step, ...] = ("thank", "explain", "apologise", "promise", "ask", "fix", "check", "prevent")
LABELS: dict[Step, str] = {"thank": "thank", "explain": "explain", "apologise": "apologise", "promise": "promise",
                           "ask": "ask", "fix": "fix", "check": "check satisfaction", "prevent": "prevent"}
TEXT_STEPS: tuple[Step, ...] = ("thank", "explain", "apologise", "promise", "ask", "check")

_NEGATION: dict[str, re.Pattern[str]] = {  # right before a phrase, within NEGATION_REACH characters
    "en": re.compile(r"(?:\bnot|n['’]t|\bnever|\bno|\bnothing to)\s+(?:\w+\s+){0,2}$", re.I),
    "ru": re.compile(r"(?<!\w)(?:не|ни|нечего)\s+(?:\w+\s+){0,1}$", re.I),
    "zh": re.compile(r"(?:不|没|没有|无法|不用|不必|别)\w{0,2}$"),
    "et": re.compile(r"\b(?:ei|pole|mitte|ära)\s+(?:\w+\s+){0,1}$", re.I),
}
NEGATION_REACH = 24

_PHRASES: dict[Step, dict[str, str]] = {
    "thank": {
        "en": r"\bthank(?:s|\s+you)\b(?!\s+for\s+nothing)|\b(?:i|we)\s+(?:really\s+)?appreciate\b|\bgrateful\b",
        "ru": r"(?<!\w)спасибо|(?<!\w)благодар(?:ю|им|ны|на|ен|ствую)|(?<!\w)признател[ье]н",
        "zh": r"谢谢|感谢|多谢",
        "et": r"\baitäh\b|\btänan\b|\btäname\b|\btänud\b|\bsuur\s+tänu\b|\btänu\s+teile\b",
    },
    "explain": {  # the seeds' step 2: "thank you for telling me about…, now I can help"
        "en": r"\bthank(?:s|\s+you)(?:\s+so\s+much|\s+very\s+much)?\s+for\s+(?:letting\s+(?:me|us)\s+know|telling\s+(?:me|us)"
              r"|reporting|flagging|raising|pointing|bringing|your\s+(?:feedback|report)|the\s+feedback|sharing)"
              r"|\b(?:this|your\s+(?:feedback|message|report))\s+(?:really\s+)?(?:helps|will\s+help)\s+(?:us|me)\b"
              r"|\b(?:now|so)\s+(?:i|we)\s+can\s+(?:fix|sort|put|make|improve)\b",
        "ru": r"(?<!\w)спасибо,?\s+что\s+(?:вы\s+)?(?:сразу\s+)?(?:сообщили|рассказали|написали|обратили\s+внимание|дали\s+(?:нам\s+)?знать)"
              r"|(?<!\w)(?:спасибо|благодар\w*)\s+за\s+(?:сообщение|обратную\s+связь|отзыв|ваш\s+отзыв|то,?\s+что)"
              r"|(?<!\w)теперь\s+(?:я|мы)\s+(?:смогу|сможем|могу|можем)|(?<!\w)это\s+поможет\s+(?:нам|мне)",
        "zh": r"(?:感谢|谢谢)(?:您|你)?(?:第一时间)?(?:告诉|反馈|指出|提醒|让我们知道)|(?:帮助|有助于)我们(?:改进|改善|解决)"
              r"|这样我们(?:就能|才能|可以)",
        "et": r"\b(?:aitäh|tänan|täname),?\s+et\s+(?:te\s+)?(?:andsite|teatasite|kirjutasite|rääkisite)"
              r"|\b(?:aitäh|tänan|täname|tänud)\s+(?:teile\s+)?(?:tagasiside|teate|märkuse|teavituse)\s+eest"
              r"|\bsee\s+aitab\s+(?:meil|mul)\b|\bnüüd\s+(?:saan|saame)\b",
    },
    "apologise": {
        "en": r"\bsorry\b|\bapologi[sz]e\b|\bapologies\b|\bmy\s+apologies\b|\bforgive\s+us\b",
        "ru": r"(?<!\w)извин(?:ите|яюсь|яемся|ения)|(?<!\w)прошу\s+прощения|(?<!\w)простите|(?<!\w)(?:мне|нам)\s+(?:очень\s+)?жаль"
              r"|(?<!\w)сожале(?:ю|ем)",
        "zh": r"对不起|抱歉|不好意思|道歉|致歉",
        "et": r"\bvabandust\b|\bvaband(?:an|ame)\b|\b(?:mul|meil)\s+on\s+(?:väga\s+|nii\s+)?kahju\b",
    },
    "promise": {
        "en": r"\b(?:i|we)(?:['’]ll|\s+will)\s+(?!not\b|never\b)(?:\w+\s+)?(?:fix|sort|resolve|make|send|refund|replace|get|take\s+care|look\s+into"
              r"|ensure|personally|arrange|handle|check|follow\s+up|keep\s+you|update\s+you|be\s+in\s+touch|see\s+it|reverse|credit|chase)"
              r"|\b(?:i|we)\s+promise\b|\b(?:i\s+am|i['’]m|we\s+are|we['’]re)\s+(?:\w+\s+)?(?:going\s+to|on\s+it|taking\s+care"
              r"|fixing|sorting|reversing|handling)|\blet\s+me\s+(?:fix|sort|take\s+care|make|handle)\b|\bi\s+own\s+it\b",
        "ru": r"(?<!\w)(?:обещаю|обещаем|исправлю|исправим|решу|решим|разберусь|разберёмся|разберемся|верну|вернём|вернем"
              r"|заменим|заменю|отправлю|отправим|позабочусь|позаботимся|компенсируем|займусь|займёмся|займемся|прослежу"
              r"|отменю|отменим|доведу)(?!\w)|(?<!\w)(?:беру|берём|берем)\s+(?:это\s+)?под\s+(?:личный\s+)?контроль"
              r"|(?<!\w)(?:я|мы)\s+уже\s+занима(?:юсь|емся)|(?<!\w)сделаю\s+вс[её]|(?<!\w)сделаем\s+вс[её]",
        "zh": r"(?:我|我们)(?:现在|今天|马上)?(?:就|会|将|马上|立即|立刻|一定|正在)?(?:尽快|马上|立即|立刻)?在?(?:亲自)?(?:为您|帮您|给您|替您)?(?:处理|解决|退款|补发"
              r"|重新发|安排|跟进|改正|修复|撤销|负责|确保)|保证|承诺|由我负责|包在我身上",
        "et": r"\b(?:lahendan|lahendame|parandan|parandame|korraldan|korraldame|saadan|saadame|hüvitame|hüvitan|luban|lubame"
              r"|tegelen|tegeleme|tühistan|tühistame|hoolitsen|hoolitseme|kiirendan)\b|\bviin\s+(?:asja\s+)?lõpuni\b"
              r"|\b(?:ma|me)\s+(?:teen|teeme)\s+(?:kõik|korda)\b",
    },
    "ask": {  # a question to the customer, or a polite request for what is needed
        "en": r"[?？]|\b(?:please|kindly)\s+(?:send|tell|share|confirm|provide|let\s+me\s+know|attach)\b"
              r"|\bcould\s+you\s+(?:please\s+)?(?:send|tell|share|confirm|provide)\b",
        "ru": r"[?？]|(?<!\w)(?:пришлите|сообщите|укажите|подскажите|уточните|напишите|отправьте|подтвердите)(?!\w)"
              r"|(?<!\w)не\s+могли\s+бы\s+вы",
        "zh": r"[?？]|吗[。!！]?$|请(?:您)?(?:提供|告诉|发|发送|确认|上传|说说)|能否|可否",
        "et": r"[?？]|\bpalun\s+(?:saatke|öelge|kinnitage|täpsustage|lisage|kirjeldage)\b|\bkas\s+(?:te\s+)?saaksite\b",
    },
    "check": {  # step 7: "ask them directly whether they are satisfied"
        "en": r"\bare\s+you\s+(?:happy|satisfied|ok|okay|alright|all\s+right)\b|\bdoes\s+(?:this|that)\s+(?:work|sound\s+good|help)"
              r"|\bis\s+(?:that|this|everything)\s+(?:ok|okay|alright|all\s+right|better|resolved|sorted|fixed)\b"
              r"|\bdid\s+(?:that|this|it)\s+(?:solve|fix|resolve|help|work)\b|\bhas\s+(?:this|that|everything)\s+been\s+(?:resolved|sorted)"
              r"|\bhappy\s+with\s+(?:the|this|how)\b|\b(?:is\s+there\s+)?anything\s+else\s+(?:i|we)\s+can\s+(?:do|help)",
        "ru": r"(?<!\w)(?:вас|тебя)\s+(?:это\s+)?устраивает|(?<!\w)устраивает\s+ли|(?<!\w)довольны\s+ли|(?<!\w)вы\s+довольны"
              r"|(?<!\w)вс[её]\s+ли\s+(?:теперь\s+)?(?:в\s+порядке|хорошо|решено|устраивает)|(?<!\w)(?:помогло|подошло|подходит)\s+ли"
              r"|(?<!\w)могу\s+ли\s+я\s+(?:ещё|еще)|(?<!\w)чем\s+(?:ещё|еще)\s+(?:могу|можем)\s+помочь",
        "zh": r"满意吗|是否满意|还满意|满意(?:这个|这样的)?(?:解决|处理)|(?:问题|一切)(?:都)?(?:解决|好)了吗|这样可以吗"
              r"|还有(?:什么|其他)(?:需要|可以)(?:我)?帮",
        "et": r"\bkas\s+(?:te\s+)?(?:olete|oled|jäite)\s+(?:\w+\s+)?rahul\b|\bkas\s+(?:see|lahendus)\s+(?:sobib|sobis|aitas)\b"
              r"|\bkas\s+(?:nüüd\s+)?kõik\s+on\s+(?:nüüd\s+)?korras\b|\bkas\s+(?:ma|me)\s+(?:saan|saame)\s+veel\b"
              r"|\bkas\s+probleem\s+(?:on\s+)?lahendatud\b",
    },
}
_RE: dict[Step, dict[str, re.Pattern[str]]] = {
    step: {lang: re.compile(p, re.IGNORECASE | re.MULTILINE) for lang, p in by_lang.items()}
    for step, by_lang in _PHRASES.items()
}
# what the nudges found that voids an apology or a promise (bot/slack/nudges.py Reason)
_VOIDS: dict[Step, frozenset[str]] = {"apologise": frozenset({"qualified", "blame"}),
                                      "promise": frozenset({"refusal"})}


def _negated(text: str, start: int, language: str) -> bool:
    return bool(_NEGATION[language].search(text[max(0, start - NEGATION_REACH):start]))


def _found(step: Step, text: str) -> bool:
    for language, pattern in _RE[step].items():
        for match in pattern.finditer(text):
            if match.group(0) in "?？" or not _negated(text, match.start(), language):
                return True
    return False


def detect_steps(text: str, faults: Collection[str] = ()) -> frozenset[Step]:
    """The method's steps one agent message performs (of "thank", "explain", "apologise", "promise", "ask", "check").

    Args:
        text: what the agent wrote in the customer's thread (any of en, ru, zh, et; mixed is fine).
        faults: reasons the reply lint found in it (`Finding.reason` of bot/slack/nudges.py `find_faults`):
            "qualified" or "blame" voids the apology, "refusal" the promise.
    Returns:
        The steps found. "explain" implies "thank"; a satisfaction check is not counted as an "ask".
    """
    readable = normalise_phrase(text, casefold=False)
    steps: set[Step] = {step for step in TEXT_STEPS if _found(step, readable)}
    if "explain" in steps:
        steps.add("thank")
    shapes = find_qualifiers(readable)
    lint = set(faults) | {"qualified" for s in shapes if s.contrast} | {s.reason for s in shapes}
    for step, voids in _VOIDS.items():
        if lint & voids:
            steps.discard(step)
    if "check" in steps and "ask" in steps and not _asks_beyond_check(readable):
        steps.discard("ask")
    return frozenset(steps)


def _asks_beyond_check(text: str) -> bool:
    """Whether a message that checks satisfaction also asks something else (another question or request)."""
    sentences = [s for s in re.split(r"(?<=[.!?。！？])\s*", text) if s.strip()]
    return any(_found("ask", s) and not _found("check", s) for s in sentences)


def ordered(steps: Iterable[str]) -> list[Step]:
    """`steps` in the method's order, unknown names dropped."""
    done = set(steps)
    return [step for step in STEPS if step in done]


def checklist_line(done: Iterable[str]) -> str:
    """One line for the card: "✓ thank · explain · ✓ apologise · promise · …" (done steps ticked)."""
    have = set(done)
    count = sum(step in have for step in STEPS)
    marks = " · ".join(f"✓ *{LABELS[s]}*" if s in have else LABELS[s] for s in STEPS)
    return f":gift: *Complaint-is-a-gift steps {count}/8:* {marks}"


def checklist_plain(done: Iterable[str]) -> str:
    """The same line without Slack markup, for the terminal."""
    have = set(done)
    return f"{sum(s in have for s in STEPS)}/8  " + "  ".join(("✓ " if s in have else "· ") + LABELS[s] for s in STEPS)
