"""Text rules shared by the playbook schema and the reply checker: phrase normalisation, placeholders.

Banned phrases are compared after normalisation so that a double space, a non-breaking space, a
zero-width character or full-width letters cannot smuggle "sorry, but" past the check; templates may
use only bare placeholders, because `str.format` runs every format spec (`{issue:>999999999}` built a
1 GB apology).
"""
from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

ALLOWED_PLACEHOLDERS = frozenset({"issue", "company", "days"})


def normalise_phrase(text: str, casefold: bool = True) -> str:
    """NFKC, casefold, drop invisible format characters (zero-width space, soft hyphen), collapse whitespace.

    NFKC maps NBSP, the ideographic space and full-width letters to their plain forms; `str.split()`
    then splits on every Unicode whitespace, so any run of spaces, tabs or line breaks becomes one space.
    `casefold=False` keeps the case, for quoting the writer's own words back to them.
    """
    folded = unicodedata.normalize("NFKC", text)
    folded = folded.casefold() if casefold else folded
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` once both are normalised; an empty phrase never matches."""
    return first_banned(text, [phrase]) is not None


def first_banned(text: str, phrases: list[str]) -> str | None:
    """The first of `phrases` found in `text` after normalisation (the text is normalised once)."""
    haystack = normalise_phrase(text)
    for phrase in phrases:
        needle = normalise_phrase(phrase)
        if needle and needle in haystack:
            return phrase
    return None


def placeholder_problems(template: str) -> list[str]:
    """What is wrong with a template's placeholders: unknown names, format specs, conversions, indexing."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:  # unbalanced braces
        return [f"malformed template: {exc} (write a literal brace as '{{{{' or '}}}}')"]
    problems: list[str] = []
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if len(shown) > 40:
            shown = shown[:37] + "...}"
        if conversion is not None or spec:
            problems.append(f"placeholder {shown} has a format spec or conversion; write it bare, e.g. {{issue}}")
        elif name not in ALLOWED_PLACEHOLDERS:
            problems.append(f"unknown placeholder {shown}; allowed: "
                            + ", ".join("{" + p + "}" for p in sorted(ALLOWED_PLACEHOLDERS)))
    return problems


# ------------------------------------------------------------------ qualifiers and blame, anywhere in a text
# The method (../shared/seeds): apologise without "but", never blame another team or the customer, never hide
# behind policy, and never answer "there is nothing I can do". Banned phrases catch fixed wordings ("sorry,
# but"); these rules catch the shape wherever it sits: a contrast word ("but", "however", "although", "но",
# "однако", "但是", "不过", "aga", "kuid") followed, within the same or the next sentence, by blame, policy or
# terms, or a refusal, in each of en, ru, zh, et. A blame, policy or refusal phrase without a "but" is a fault
# of its own. Used by the playbook validator (apologies and the words sent to customers) and by the agent
# nudges (bot/slack/nudges.py); tests/playbook/test_qualifiers.py checks every phrase below.
QualifierReason = Literal["blame", "policy", "refusal"]
CONTRAST_REACH = 120  # characters after the contrast word in which the blame, policy or refusal counts

_CONTRAST: dict[str, str] = {
    "en": r"\b(?:but|however|although|though|that said|having said that|except that)\b",
    "ru": r"(?<!\w)(?:но|однако|хотя|тем не менее|впрочем|а вот)(?!\w)",
    "zh": r"但是|(?<!不)但|可是|不过|然而|虽然|尽管",
    "et": r"\b(?:aga|kuid|ent|kuigi|siiski|samas|ometi)\b",
}
_TARGETS: dict[str, dict[str, str]] = {
    "en": {
        "blame": r"\b(?:courier|carrier|driver|warehouse|shipping (?:company|partner)|delivery (?:company|service|partner)"
                 r"|post(?:al)? (?:office|service)|bank|supplier|manufacturer|vendor|another department|other department"
                 r"|another team|other team|(?:the|our) system)(?:['’]s)? (?:fault|mistake|error|responsibility|doing)\b"
                 r"|\b(?:caused by|due to|because of|blame (?:it on )?)(?:the )?(?:courier|carrier|warehouse|bank|supplier"
                 r"|manufacturer|another department|other department|another team|other team)\b"
                 r"|\b(?:courier|carrier|driver|warehouse|bank|supplier|manufacturer|vendor|another department"
                 r"|other department|another team|other team)\b[^.!?]{0,15}\b(?:made (?:a|the) mistake|messed (?:it )?up"
                 r"|(?:is|was|are|were) to blame|(?:lost|broke|damaged) (?:it|your))"
                 r"|\bnot (?:our|my) (?:fault|responsibility|problem)\b"
                 r"|(?<!not )(?<!n't )(?<!n’t )\byour (?:own )?(?:fault|mistake|responsibility)\b"
                 r"|\byou should have\b|\byou (?:didn['’]?t|did not|failed to|forgot to)\b|\byou misunderstood\b",
        "policy": r"\bpolic(?:y|ies)\b|\b(?:our|company|store) (?:terms|rules|regulations|conditions|procedures?|guidelines)\b"
                  r"|\bterms (?:and|&) conditions\b|\bterms of (?:service|sale|use)\b"
                  r"|\b(?:we are|we['’]re|i am|i['’]m) not (?:allowed|permitted)\b",
        "refusal": r"\bnothing (?:more )?(?:i|we) can do\b|\b(?:i|we) can(?:['’]?t|not) do (?:anything|much)\b"
                   r"|\b(?:i am|i['’]m|we are|we['’]re) (?:unable|not able) to help\b|\bout of (?:my|our) hands\b"
                   r"|\bthere(?:['’]s| is) nothing (?:more )?(?:i|we) can\b|\b(?:i|we) can(?:['’]?t|not) help (?:you )?with (?:that|this)\b"
                   r"|\bnot (?:my|our) (?:department|job)\b",
    },
    "ru": {
        "blame": r"(?<!\w)(?:курьер\w*|склад\w*|служб\w* доставки|банк\w*|поставщик\w*|производител\w*|друг\w* отдел\w*|систем\w*)"
                 r" (?:виноват\w*|ошиб\w*|напутал\w*|подв[её]л\w*)"
                 r"|(?<!\w)вин[аеуы] (?:курьер\w*|склад\w*|служб\w*|банк\w*|поставщик\w*|производител\w*|друг\w* отдел\w*)"
                 r"|(?<!\w)по вине (?:курьер\w*|склад\w*|служб\w*|банк\w*|поставщик\w*|производител\w*|друг\w* отдел\w*)"
                 r"|(?<!\w)(?:не наша|не моя) вина|(?<!\w)не по нашей вине|(?<!\w)(?<!не )ваша (?:вина|ошибка)"
                 r"|(?<!\w)вы (?:сами )?(?:должны были|виноваты|не указали|ошиблись|неправильно поняли)|(?<!\w)вам следовало"
                 r"|(?<!\w)сами виноваты",
        "policy": r"(?<!\w)политик\w*|(?<!\w)правил(?:а|ам|ами|ах|о|у)?(?!\w)|(?<!\w)регламент\w*|(?<!\w)инструкци\w*"
                  r"|(?<!\w)(?:наши|по нашим|согласно|таковы) услови\w*|(?<!\w)услови\w* (?:договора|оферты|продажи|обслуживания)"
                  r"|(?<!\w)(?:нам |мне )?не (?:положено|разрешено)|(?<!\w)так положено",
        "refusal": r"(?<!\w)ничего не (?:могу|можем) (?:сделать|поделать)|(?<!\w)ничем не (?:могу|можем) помочь"
                   r"|(?<!\w)не (?:могу|можем) (?:ничего|ничем)|(?<!\w)от (?:меня|нас) (?:ничего )?не зависит"
                   r"|(?<!\w)это не ко мне|(?<!\w)не в (?:моей|нашей) (?:власти|компетенции)",
    },
    "zh": {
        "blame": r"(?:快递员?|物流|司机|仓库|配送|银行|供应商|厂家|其他部门|别的部门|系统)(?:公司|方面|那边)?的?(?:问题|错|责任|失误)"
                 r"|(?:是|因为|由于|怪)(?:快递员?|物流|仓库|银行|供应商|厂家|其他部门|别的部门)"
                 r"|不是我们的(?:错|责任|问题)|(?<!不是)(?<!并非)(?:您|你)(?:自己)?的(?:错|责任)|(?:您|你)应该|(?:您|你)(?:没有|没)(?:填|写|选|注意|看)"
                 r"|(?:您|你)(?:误会了|搞错了)",
        "policy": r"规定|政策|条款|制度|不允许|不能破例",
        "refusal": r"(?:我|我们)(?:也)?(?:无能为力|没有办法|没办法|帮不了|帮不上|做不了)|(?:我|我们)(?:也)?(?:什么|啥)都(?:做不了|不能做)"
                   r"|爱莫能助|不归我(?:们)?管",
    },
    "et": {
        "blame": r"\b(?:kulleri|lao|transpordifirma|panga|tarnija|tootja|teise osakonna|süsteemi|postiteenuse)\w* (?:süü|viga|vastutus|eksimus)\b"
                 r"|\bsüü (?:on|oli) (?:kulleri|lao|panga|tarnija|tootja|teise osakonna|teie)\w*"
                 r"|\b(?:pole|ei ole) meie (?:süü|viga|vastutus)\b|(?<!pole )(?<!ei ole )\bteie (?:enda )?(?:süü|viga)\b|\boleksite pidanud\b"
                 r"|\bte (?:ei|pole) (?:märkinud|täitnud|lugenud)\b|\bvalesti aru\b",
        "policy": r"\bpoliitika\w*|\b(?:meie |ettevõtte )?reegli\w*|\btingimus\w*|\b(?:ei ole|pole) lubatud\b|\bkord on selline\b"
                  r"|\beeskir\w*",
        "refusal": r"\b(?:ma|me) ei saa (?:midagi|teid aidata|sellega midagi|aidata)\b|\b(?:ei saa|pole) (?:midagi )?(?:teha|parata)\b"
                   r"|\bmidagi pole (?:teha|parata)\b|\bsee ei sõltu (?:minust|meist)\b",
    },
}
_CONTRAST_RE = {lang: re.compile(pattern, re.IGNORECASE) for lang, pattern in _CONTRAST.items()}
_TARGET_RE = {lang: {reason: re.compile(p, re.IGNORECASE) for reason, p in rules.items()} for lang, rules in _TARGETS.items()}


@dataclass(frozen=True)
class Qualifier:
    """A fault in a text: `contrast` when a "but" leads to it; `phrase` from that word on and `target` the blame,
    policy or refusal alone, both as written (normalised, case kept)."""

    language: str
    reason: QualifierReason
    phrase: str
    contrast: bool
    target: str = ""


def find_qualifiers(text: str, languages: Iterable[str] | None = None) -> list[Qualifier]:
    """Every blame, policy or refusal phrase in `text`, each marked whether a contrast word leads to it.

    A phrase reached from a contrast word is reported from that word on ("but that was the courier's fault");
    `languages` limits the rules (a template is checked in its own language), default all four.
    """
    readable = normalise_phrase(text, casefold=False)
    found: list[Qualifier] = []
    for lang in languages or _TARGET_RE:
        if lang not in _TARGET_RE:
            continue
        contrasts = [m for m in _CONTRAST_RE[lang].finditer(readable)]
        for reason, pattern in _TARGET_RE[lang].items():
            for match in pattern.finditer(readable):
                lead = next((c for c in reversed(contrasts)
                             if c.start() <= match.start() and match.start() - c.end() <= CONTRAST_REACH), None)
                start = lead.start() if lead is not None else match.start()
                found.append(Qualifier(lang, reason, readable[start:match.end()].strip(), lead is not None,  # type: ignore[arg-type]
                                       match.group(0).strip()))
    return sorted(found, key=lambda q: (not q.contrast, readable.find(q.phrase)))


def first_qualifier(text: str, languages: Iterable[str] | None = None) -> Qualifier | None:
    found = find_qualifiers(text, languages)
    return found[0] if found else None
