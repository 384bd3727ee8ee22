"""Redact personal data from customer text before it is stored or exported.

Checked libraries where they exist: `phonenumbers` (libphonenumber's metadata) finds phone numbers
of any country, `python-stdnum` checks IBANs (mod 97 and each country's length and format), payment
cards (Luhn), the Estonian isikukood, the Russian INN and the Chinese resident id (birth date and
check digit). A regex only proposes candidates; a candidate is redacted when its check passes, so
order numbers, amounts and dates, which the coach needs, stay. Own code only where no library has
it: e-mail addresses (including IDN and punycode), the Russian SNILS checksum (python-stdnum 2.2 has
no SNILS), Russian passports (no check digit: the shape plus a plausible series, or a passport word
nearby), IPv4 addresses and Slack mentions. Not an NER model: what must go has a *shape* shared by
en/ru/zh/et, and a model would be slow, large and still miss card numbers.

Digit patterns use digit-only boundaries (not ``\\b``): in Chinese there is no space between a word
and a number, and CJK characters count as word characters.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache

import phonenumbers
from stdnum import iban, luhn
from stdnum.cn import ric
from stdnum.ee import ik
from stdnum.ru import inn

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"
NATIONAL_ID = "[ID]"
IP = "[IP]"
USER = "[USER]"

# phones without "+" are read as numbers of these countries (the supported languages' and the
# biggest customer bases'); with "+" or 00 every country is read
PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "RU", "CN", "EE")
ANY_REGION_LOOKUPS = 20   # per text: each costs up to ~20 ms (245 regions); past it, such a run is a phone
CARD_RUN_MAX_DIGITS = 200  # a longer run of digit groups is redacted whole, unchecked
MAX_CHECKED_GROUPS = 300  # a text with more digit groups is not a customer message: every 6-digit run goes
REFERENCE_MAX_DIGITS = 6  # a stored order reference / product with more digits in a row could be a phone

# anything worth a closer look: an @ (e-mails, mentions), an IPv4 address, or six digits close together
# (every other kind redacted has more); text without any is returned at once
_MAYBE = re.compile(r"@|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|\d(?:[\s().\-/]{0,3}\d){5}")
_CJK = re.compile(r"^[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]+(?=[A-Za-z0-9])")
# RFC 5321 lengths (local part 64, label 63) also keep the pattern linear on a long run of letters
_EMAIL_RE = re.compile(
    r"[\w.%+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63}){0,8}\.(?:xn--[A-Za-z0-9\-]{1,59}|[^\W\d_]{2,63})")
_MENTION_RE = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?=[ \-]?[A-Za-z0-9])")
_GROUPS = re.compile(r"[A-Za-z0-9]+")
_CN_ID_RE = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])")
_EE_ID_RE = re.compile(r"(?<!\d)[1-8]\d{10}(?!\d)")
_SNILS_RE = re.compile(r"(?<!\d)(\d{3})([- ]?)(\d{3})\2(\d{3})[- ]?(\d{2})(?!\d)")
_INN_RE = re.compile(r"(?<!\d)(?:\d{12}|\d{10})(?!\d)")
_INN_NEAR = re.compile(r"(?:инн|\binn\b|\btin\b)\D{0,15}$", re.IGNORECASE)
_PASSPORT_WORDS = r"(?:паспорт\w*|passport|pass|серия|серии|series|п/с)"
_PASSPORT_NEAR = re.compile(rf"{_PASSPORT_WORDS}[^\d]{{0,25}}$", re.IGNORECASE)
_PASSPORT_SPLIT = re.compile(r"(?<!\d)(\d{2} ?\d{2})\s*(?:№|номер|no\.?|nr\.?|number)\s*(\d{6})(?!\d)", re.IGNORECASE)
_PASSPORT_RE = re.compile(r"(?<!\d)(\d{2})( ?)(\d{2})( ?)(\d{6})(?!\d)")
_IPV4_RE = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
_CARD_RE = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,}(?!\d)")
# what is not a phone number: dates, times and amounts are masked before numbers are looked for
_NOT_PHONE = re.compile(
    r"(?<!\d)(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}:\d{2}(?::\d{2})?)(?!\d)"
    r"|[$€£¥₽]\s?\d(?:[\d.,]|\s(?=\d)){0,16}"
    r"|(?<![\d.,])\d(?:[\d.,]|\s(?=\d)){0,16}\s?(?:[$€£¥₽元块%]|usd|eur\w*|dollars?|rub\w*|руб\w*|р\.|rmb|senti)",
    re.IGNORECASE,
)
_RUN_RE = re.compile(r"(?<![\dA-Za-z+])(?:\+|00)?\(?\d[\d \t().\-]{5,22}\d(?![\dA-Za-z])")
_DIGIT_GROUP = re.compile(r"\d+")
_LONG_DIGITS = re.compile(r"(?<!\d)\+?\d(?:[ \t().\-]{0,2}\d){5,}")
_THOUSANDS = re.compile(r"\d{1,3}(?:[ .]\d{3})+")
_ORDER_BEFORE = re.compile(
    r"(?:\border|\bord|invoice|ticket|\bcase|\bref|booking|tracking|заказ\w*|сч[её]т\w*|订单号?|单号"
    r"|tellimus\w*|\barve\w*)\W{0,3}(?:no\.?|nr\.?|number|num|id|номер|号)?\W{0,3}$|#\s?$",
    re.IGNORECASE,
)
_PHONE_WORDS = re.compile(
    r"(?:\b(?:phone|mobile|cell|whatsapp|sms|call|ring|reach|telefon|mobiil|helista)\w*|\btel\b\.?"
    r"|телефон\w*|\bтел\b\.?|\bмоб\w*|звоните|позвоните|номер|电话|手机|号码|联系方式)[^\d]{0,12}$",
    re.IGNORECASE,
)


def luhn_ok(digits: str) -> bool:
    """Payment-card check digit (python-stdnum's Luhn)."""
    return luhn.is_valid(digits)


def iban_ok(candidate: str) -> bool:
    """IBAN with spaces or dashes, any case: mod 97 plus the country's length and format (python-stdnum).
    A plain mod-97 test first: stdnum's full check costs ~0.1 ms, and most candidates fail the sum."""
    compact = re.sub(r"[ \-]", "", candidate).upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum() or not compact.isascii():
        return False
    if int("".join(str(int(ch, 36)) for ch in compact[4:] + compact[:4])) % 97 != 1:
        return False
    return iban.is_valid(compact)


def estonian_id_ok(code: str) -> bool:
    """Estonian isikukood: birth date and check digit (python-stdnum)."""
    return ik.is_valid(code)


def snils_ok(number: str) -> bool:
    """Russian SNILS check number (own code: python-stdnum 2.2 has no SNILS). Weights 9..1 over the first
    nine digits; the sum mod 101, 100 and 101 giving 00. Numbers up to 001-001-998 carry no check."""
    digits = re.sub(r"\D", "", number)
    if len(digits) != 11 or int(digits[:9]) <= 1001998:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(9, 0, -1))) % 101
    return (0 if total == 100 else total) == int(digits[9:])


def passport_series_ok(series: str) -> bool:
    """Russian passport series: a region code (01-99) and the two-digit year of the form (1997 on)."""
    digits = re.sub(r"\D", "", series)
    year = int(digits[2:])
    return digits[:2] != "00" and (year >= 97 or year <= date.today().year % 100 + 1)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _after_order_word(text: str, start: int) -> bool:
    """The number at `start` is introduced as an order/ticket number: the weakly checked kinds keep it."""
    return bool(_ORDER_BEFORE.search(text[max(0, start - 30):start]))


def _sub_checked(pattern: re.Pattern[str], token: str, ok: Callable[[re.Match[str]], bool], text: str) -> str:
    return pattern.sub(lambda m: token if ok(m) else m.group(0), text)


def _is_snils(match: re.Match[str]) -> bool:
    """1 in 101 numbers passes the SNILS check: a bare one after an order word is the order number."""
    return snils_ok(match.group(0)) and (bool(match.group(2)) or not _after_order_word(match.string, match.start()))


def _is_inn(match: re.Match[str]) -> bool:
    """1 in 11 ten-digit numbers passes the INN check: after an order word (and no "ИНН") it is the order number."""
    text, start = match.string, match.start()
    return inn.is_valid(match.group(0)) and (
        bool(_INN_NEAR.search(text[max(0, start - 20):start])) or not _after_order_word(text, start))


def _email(match: re.Match[str]) -> str:
    """A Chinese label glued to an ASCII address ("邮箱是wang.li@qq.com") stays; an all-CJK local part goes."""
    prefix = _CJK.match(match.group(0))
    return (prefix.group(0) if prefix else "") + EMAIL


def _ibans(text: str) -> str:
    """The longest run of letter/digit groups from each country-code start that is a valid IBAN."""
    out: list[str] = []
    pos = 0
    for start in _IBAN_START.finditer(text):
        if start.start() < pos:
            continue
        cuts = []
        for group in _GROUPS.finditer(text, start.start()):
            if cuts and (group.start() - cuts[-1] > 1 or text[cuts[-1]:group.start()] not in (" ", "-")):
                break
            cuts.append(group.end())
            if len(cuts) > 10:
                break
        end = next((cut for cut in reversed(cuts) if iban_ok(text[start.start():cut])), None)
        if end is not None:
            out += [text[pos:start.start()], IBAN]
            pos = end
    return "".join(out) + text[pos:]


def _passports(text: str) -> str:
    """Russian passport, series + number: "45 09 123456" and "4509 123456" when the series is plausible or
    a passport word is near; "4509123456" only near a passport word (else it is just ten digits)."""
    text = _PASSPORT_SPLIT.sub(
        lambda m: NATIONAL_ID if _PASSPORT_NEAR.search(m.string[max(0, m.start() - 40):m.start()]) else m.group(0),
        text)

    def one(match: re.Match[str]) -> str:
        near = bool(_PASSPORT_NEAR.search(text[max(0, match.start() - 40):match.start()]))
        spaced = bool(match.group(4))
        if near or (spaced and passport_series_ok(match.group(1) + match.group(3))
                    and not _after_order_word(text, match.start())):
            return NATIONAL_ID
        return match.group(0)

    return _PASSPORT_RE.sub(one, text)


def _card(match: re.Match[str]) -> str:
    """From each digit group of a run, the most groups holding 13-19 digits that pass Luhn: neither a
    number before the card ("12 4111 ...") nor one after it ("4111 ... 12") hides it. Whole groups only,
    so trying several lengths does not multiply the chance of a false hit; linear in the run."""
    text = match.group(0)
    if len(_digits(text)) > CARD_RUN_MAX_DIGITS:
        return CARD  # no message writes 200 digits in a row: fail closed rather than check them all
    groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", text)]
    out: list[str] = []
    pos = i = 0
    while i < len(groups):
        ends: list[int] = []
        count = 0
        for j in range(i, len(groups)):
            count += groups[j][1] - groups[j][0]
            if count > 19:
                break
            if count >= 13:
                ends.append(j)
        last = next((j for j in reversed(ends) if luhn_ok(_digits(text[groups[i][0]:groups[j][1]]))), None)
        if last is None:
            i += 1
            continue
        out += [text[pos:groups[i][0]], CARD]
        pos, i = groups[last][1], last + 1
    return "".join(out) + text[pos:]


@lru_cache(maxsize=4096)
def _valid_somewhere(raw: str) -> bool:
    """A phone number of some country as written (national format), or with a "+" put in front."""
    candidates = [(raw, region) for region in phonenumbers.SUPPORTED_REGIONS]
    if 10 <= len(_digits(raw)) <= 15:
        candidates.insert(0, ("+" + _digits(raw), None))
    for number, region in candidates:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(number, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _phone_spans(text: str) -> list[tuple[int, int]]:
    """Where the phone numbers are: libphonenumber's matcher per region (VALID leniency, so the number must
    exist in that country's plan), "+" numbers of any country, digit runs after a phone word, and
    separated runs that are a valid number in some country. Dates, times and amounts are masked first."""
    masked = _NOT_PHONE.sub(lambda m: re.sub(r"\d", "_", m.group(0)), text)
    spans: list[tuple[int, int]] = []
    # the matcher tries every digit group, ~0.1 ms each and region: bounded by failing closed, in linear time
    if sum(1 for _ in zip(range(MAX_CHECKED_GROUPS + 1), _DIGIT_GROUP.finditer(masked))) > MAX_CHECKED_GROUPS:
        return [m.span() for m in _LONG_DIGITS.finditer(masked)]

    def add(start: int, end: int, raw: str) -> None:
        if raw.startswith(("+", "00")) or not _after_order_word(text, start):
            spans.append((start, end))

    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(masked, region, leniency=phonenumbers.Leniency.VALID):
            add(match.start, match.end, match.raw_string)
    for match in phonenumbers.PhoneNumberMatcher(masked, "ZZ", leniency=phonenumbers.Leniency.POSSIBLE):
        if match.raw_string.startswith("+"):
            spans.append((match.start, match.end))
    lookups = 0
    for run in _RUN_RE.finditer(masked):
        raw = run.group(0).rstrip(" \t.-(")
        digits = _digits(raw)
        if not 6 <= len(digits) <= 15 or any(s < run.start() + len(raw) and run.start() < e for s, e in spans):
            continue
        if _after_order_word(text, run.start()) and not raw.startswith(("+", "00")):
            continue
        if _PHONE_WORDS.search(text[max(0, run.start() - 30):run.start()]):
            spans.append((run.start(), run.start() + len(raw)))
            continue
        separated = bool(re.search(r"[ \t().\-]", raw.lstrip("+(")))
        if len(digits) < 7 or _THOUSANDS.fullmatch(raw):
            continue
        if separated or len(digits) >= 10:
            lookups += 1  # bounded: a long message of digit groups must not cost seconds; past it, fail closed
            if lookups > ANY_REGION_LOOKUPS or _valid_somewhere(raw):
                spans.append((run.start(), run.start() + len(raw)))
    return spans


def _phones(text: str) -> str:
    spans = sorted(_phone_spans(text))
    out: list[str] = []
    pos = 0
    for start, end in spans:
        if end <= pos:
            continue
        if start < pos:  # overlapping matches from two regions: one placeholder for both
            pos = end
            continue
        out += [text[pos:start], PHONE]
        pos = end
    return "".join(out) + text[pos:]


def redact(text: str) -> str:
    """The text with personal data replaced by tokens such as [EMAIL] or [PHONE]."""
    if not _MAYBE.search(text):
        return text
    out = _EMAIL_RE.sub(_email, text) if "@" in text else text
    out = _MENTION_RE.sub(USER, out)
    out = _ibans(out)
    out = _sub_checked(_CN_ID_RE, NATIONAL_ID, lambda m: ric.is_valid(m.group(0).upper()), out)
    out = _sub_checked(_EE_ID_RE, NATIONAL_ID, lambda m: estonian_id_ok(m.group(0)), out)
    out = _passports(out)
    out = _sub_checked(_SNILS_RE, NATIONAL_ID, _is_snils, out)
    out = _sub_checked(_INN_RE, NATIONAL_ID, _is_inn, out)
    out = _IPV4_RE.sub(IP, out)
    out = _CARD_RE.sub(_card, out)
    return _phones(out) if _MAYBE.search(out) else out


def survives(value: str, text: str, redacted: str) -> bool:
    """False when `value` was cut out of `text` by redaction (a fragment of a phone, card or id)."""
    return value not in text or value in redacted


@lru_cache(maxsize=4096)
def _reference_ok(value: str) -> bool:
    longest = max((len(_digits(run)) for run in re.findall(r"\d(?:[\s./\-()]?\d)*", value)), default=0)
    return longest <= REFERENCE_MAX_DIGITS and redact(value) == value


def safe_reference(value: str | None, text: str | None = None, redacted: str | None = None,
                   from_text: bool = True) -> str | None:
    """`value` (an order reference or product kept in a column of its own and exported) when it cannot be
    a phone, card or id; else None.

    Stricter than free text, because a column is exported and counted without the words around it:
    dropped when redaction changes it, or when it holds more than REFERENCE_MAX_DIGITS digits in a row
    (7 digits already make a phone number in Estonia or the US). Given the message (`text`, and
    `redacted`, the same message redacted) it is also dropped when it was part of something redacted
    there (the digits of a passport read as an order number), and, when it was read `from_text` (the
    planner's details, found over the whole thread), when it is not in this message at all: an earlier
    message's fragment cannot be checked here.
    """
    value = (value or "").strip()
    if not value or not _reference_ok(value):
        return None
    if text is not None:
        redacted = redact(text) if redacted is None else redacted
        if value in text and value not in redacted or from_text and value not in text:
            return None
    return value
