"""Redact personal data from customer text before it is stored.

Regex plus checksums rather than an NER library: what must go (emails, phone numbers, card numbers,
IBANs, national ids, Slack mentions) has a *shape*, the four languages (en, ru, zh, et) share those
shapes, and an NER model would be slow, large and still miss card numbers. Checksums (Luhn,
mod-97, the Estonian id check digit) keep order numbers and amounts, which the coach needs, intact.

Digit patterns use digit-only boundaries (not ``\\b``): in Chinese there is no space between a word
and a number, and CJK characters count as word characters.
"""
from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"
NATIONAL_ID = "[ID]"
IP = "[IP]"
USER = "[USER]"

_LETTER = r"A-Za-z0-9\u0400-\u04FF"
_EMAIL_RE = re.compile(rf"[{_LETTER}._%+\-]+@[{_LETTER}\-]+(?:\.[{_LETTER}\-]+)*\.[{_LETTER}]{{2,}}")
_MENTION_RE = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_IBAN_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_CN_ID_RE = re.compile(r"(?<!\d)[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])")
_EE_ID_RE = re.compile(r"(?<!\d)[1-6]\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{4}(?!\d)")
_SNILS_RE = re.compile(r"(?<!\d)\d{3}-\d{3}-\d{3}[ -]\d{2}(?!\d)")
_IPV4_RE = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_CARD_RE = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,}(?!\d)")
# a run of digits that may be a phone number: optional +, digits with spaces, dashes, dots, brackets
_PHONE_RE = re.compile(r"(?<![\d+])(?:\+|00)?\(?\d[\d \t().\-]{5,}\d(?!\d)")
_DATE_RE = re.compile(r"^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$|^\d{4}[./-]\d{1,2}[./-]\d{1,2}$|^\d{1,2}[.:]\d{2}$")
_MONEY_AFTER = re.compile(r"^\s?(?:[$€£¥₽元块]|usd|eur|euro|dollar|rub|руб|р\.|eurot|senti|%)", re.IGNORECASE)
_MONEY_BEFORE = re.compile(r"(?:[$€£¥₽]|usd|eur|rmb)\s?$", re.IGNORECASE)
_PHONE_WORDS = re.compile(
    r"(?:\b(?:phone|mobile|cell|whatsapp|sms|call\s+me|telefon|mobiil|helista)\w*|\btel\b\.?"
    r"|телефон\w*|\bтел\b\.?|\bмоб\w*|звоните|позвоните|电话|手机|号码|联系方式)[^\d]{0,12}$",
    re.IGNORECASE,
)
_CN_MOBILE = re.compile(r"^(?:86)?1[3-9]\d{9}$")
_RU_MOBILE = re.compile(r"^[78]9\d{9}$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def estonian_id_ok(code: str) -> bool:
    digits = [int(c) for c in code]
    for weights in ((1, 2, 3, 4, 5, 6, 7, 8, 9, 1), (3, 4, 5, 6, 7, 8, 9, 1, 2, 3)):
        check = sum(d * w for d, w in zip(digits, weights)) % 11
        if check != 10:
            return check == digits[10]
    return digits[10] == 0


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _sub_checked(pattern: re.Pattern[str], token: str, ok: Callable[[str], bool], text: str) -> str:
    return pattern.sub(lambda m: token if ok(m.group(0)) else m.group(0), text)


def _is_phone(raw: str, before: str, after: str) -> bool:
    digits = _digits(raw)
    if not 7 <= len(digits) <= 15 or _DATE_RE.match(raw):
        return False
    if _MONEY_AFTER.match(after) or _MONEY_BEFORE.search(before):
        return False
    if raw.startswith(("+", "00")) or _CN_MOBILE.match(digits) or _RU_MOBILE.match(digits):
        return True
    if _PHONE_WORDS.search(before):
        return True
    separated = bool(re.search(r"[ \t().\-]", raw))
    return separated and not re.fullmatch(r"\d{1,3}(?:[ .]\d{3})+", raw)  # "1 234 567" is a thousands group


def _phone(match: re.Match[str]) -> str:
    """Redact the longest leading part of a digit run that is a phone number (runs may join two numbers)."""
    whole = match.group(0)
    before = match.string[max(0, match.start() - 30):match.start()]
    raw = whole.rstrip(" \t.-(")
    while raw:
        after = match.string[match.start() + len(raw):]
        if _is_phone(raw, before, after):
            return PHONE + whole[len(raw):]
        cut = max(raw.rfind(" "), raw.rfind("\t"))
        if cut <= 0:
            break
        raw = raw[:cut].rstrip(" \t.-(")
    return whole


def _card(match: re.Match[str]) -> str:
    """Redact the longest Luhn-valid prefix of 13-19 digits, so a trailing number does not hide a card."""
    text = match.group(0)
    positions = [i for i, ch in enumerate(text) if ch.isdigit()]
    for count in range(min(19, len(positions)), 12, -1):
        end = positions[count - 1] + 1
        if luhn_ok(_digits(text[:end])):
            return CARD + text[end:]
    return text


def redact(text: str) -> str:
    """The text with personal data replaced by tokens such as [EMAIL] or [PHONE]."""
    out = _EMAIL_RE.sub(EMAIL, text)
    out = _MENTION_RE.sub(USER, out)
    out = _sub_checked(_IBAN_RE, IBAN, iban_ok, out)
    out = _CN_ID_RE.sub(NATIONAL_ID, out)
    out = _sub_checked(_EE_ID_RE, NATIONAL_ID, estonian_id_ok, out)
    out = _SNILS_RE.sub(NATIONAL_ID, out)
    out = _IPV4_RE.sub(IP, out)
    out = _CARD_RE.sub(_card, out)
    return _PHONE_RE.sub(_phone, out)
