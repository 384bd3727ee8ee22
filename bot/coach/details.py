"""Find which details the customer has already given, so the coach never asks for them again.

Deliberately regex-based: details such as order numbers and amounts have shapes, not meanings, and
the patterns cover the four supported languages (en, ru, zh, et).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.coach.signals import mentions_repeat_contact  # noqa: F401 (kept importable from here)
from bot.playbook.text import normalise_phrase

if TYPE_CHECKING:
    from bot.playbook.schema import Product

_ORDER_WORDS = r"(?:order|ord|invoice|ticket|case|ref|booking|subscription|заказ\w*|счет\w*|счёт\w*|номер|订单号?|单号|tellimus\w*|arve\w*|#|№|no\.?)"
PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+", re.UNICODE),
    "tracking_number": re.compile(
        r"\b(?:1Z[0-9A-Z]{16}|[A-Z]{2}\d{9}[A-Z]{2})\b|(?:tracking|трек\w*|运单号?|快递单号|jälgimis\w*)\D{0,15}[A-Z0-9]{8,}",
        re.IGNORECASE,
    ),
    "order_id": re.compile(
        rf"{_ORDER_WORDS}\s*(?:number|nr\.?|no\.?|id|num|#|№|:|是|号)?\s*[:#№]?\s*[A-Z]{{0,3}}-?\d{{4,}}|#\s?[A-Z]{{0,3}}-?\d{{3,}}|\b\d{{6,}}\b",
        re.IGNORECASE,
    ),
    "amount": re.compile(
        r"(?:[$€£¥₽]\s?\d[\d\s.,]*)|(?:\d[\d\s.,]*\s?(?:[$€£¥₽]|usd|eur|euro\w*|dollars?|bucks|rub\w*|руб\w*|р\.|元|块|人民币|eurot?|senti))",
        re.IGNORECASE,
    ),
    "date": re.compile(
        r"\b\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?\b|\b\d{4}-\d{2}-\d{2}\b|\d{1,2}\s*月\s*\d{1,2}\s*[日号]"
        r"|\b(?:yesterday|today|last\s+(?:week|night|month)|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
        r"|jan(?:uary)?|feb(?:ruary)?|march|apr(?:il)?|june|july|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b"
        r"|(?<!\w)(?:вчера|сегодня|позавчера|на прошлой неделе|понедельник\w*|вторник\w*|сред[ауы]|четверг\w*|пятниц\w*|суббот\w*|воскресень\w*"
        r"|январ\w*|феврал\w*|марта?|апрел\w*|ма[яй]|июн[яьеі]\w*|июл[яьеі]\w*|август\w*|сентябр\w*|октябр\w*|ноябр\w*|декабр\w*)(?!\w)"
        r"|昨天|今天|前天|上周|上个月|星期[一二三四五六日天]|周[一二三四五六日]"
        r"|\beile\b|\btäna\b|üleeile|eelmisel nädalal|esmaspäev\w*|teisipäev\w*|kolmapäev\w*|neljapäev\w*|reede\w*|laupäev\w*|pühapäev\w*"
        r"|(?<!\w)(?:jaanuar|veebruar|märts|aprill|mai|juuni|juuli|august|september|oktoober|november|detsember)(?:il|is|ist|ni)?(?!\w)",
        re.IGNORECASE,
    ),
    "phone": re.compile(r"(?<!\w)\+?\d[\d\s().-]{7,}\d(?!\w)"),
    "device": re.compile(
        r"\b(?:iphone|ipad|android|samsung|pixel|xiaomi|huawei|windows|mac(?:book|os)?|linux|chrome|safari|firefox|edge|ios)\b"
        r"|айфон|андроид|хром|сафари|苹果|安卓|华为|小米|电脑|手机|浏览器|arvuti|telefon\w*|brauser\w*",
        re.IGNORECASE,
    ),
    "photo": re.compile(
        r"\b(?:photo|picture|pic|screenshot|video|attached|attachment)s?\b|фото\w*|скрин\w*|видео|прикрепил\w*|照片|截图|图片|视频|附件|pilt\w*|foto\w*|ekraanipilt\w*|video\w*|manus\w*",
        re.IGNORECASE,
    ),
    "address": re.compile(
        r"\b\d{1,4}\s+\w+\s+(?:street|st|avenue|ave|road|rd|lane|ln|blvd)\b|\b(?:ул\.|улица|проспект|пр\.)\s*\w+|\w+(?:路|街|号楼|小区)|\w+\s+(?:tn|tänav|maantee|mnt|pst|puiestee)\b",
        re.IGNORECASE,
    ),
}


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=16)
def _catalogue_pattern(entries: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[re.Pattern[str], dict[str, str]] | None:
    """One regex over every name of every product (longest first), and which product each group is."""
    names: list[tuple[str, str]] = []
    for product_id, aliases in entries:
        names += [(normalise_phrase(alias), product_id) for alias in aliases if normalise_phrase(alias)]
    if not names:
        return None
    names.sort(key=lambda pair: -len(pair[0]))
    groups: dict[str, str] = {}
    parts = []
    for index, (name, product_id) in enumerate(names):
        group = f"p{index}"
        groups[group] = product_id
        body = re.escape(name)
        # a CJK name is a plain substring (no spaces between words); others are words, with up to 3 more
        # letters for plurals and endings ("wiper blades", "наушников", "kõrvaklappe")
        parts.append(f"(?P<{group}>{body})" if _CJK.search(name) else rf"(?P<{group}>(?<!\w){body}\w{{0,3}})(?!\w)")
    return re.compile("|".join(parts)), groups


def find_product(texts: Iterable[str], products: Sequence[Product]) -> tuple[str, str] | None:
    """(catalogue id, the words as the customer wrote them) of the first product named, or None.

    Only the playbook's catalogue counts: an order number, a phone or any other thing the customer names is
    never a product, so "patterns by product" count products.
    """
    compiled = _catalogue_pattern(tuple((p.id, tuple(n for names in p.names.values() for n in names)) for p in products))
    if compiled is None:
        return None
    pattern, groups = compiled
    for text in texts:
        match = pattern.search(normalise_phrase(text))
        if match:
            return groups[match.lastgroup or ""], match.group(0)
    return None


def find_details(texts: Iterable[str], has_files: bool = False) -> dict[str, str]:
    """Return {detail kind: first match} over the customer's texts."""
    found: dict[str, str] = {}
    for text in texts:
        for kind, pattern in PATTERNS.items():
            if kind in found:
                continue
            match = pattern.search(text)
            if match:
                found[kind] = match.group(0).strip()
    if has_files:
        found.setdefault("photo", "(attachment)")
    # a phone number is not an order number and vice versa: keep order_id only if it is not the phone
    if "order_id" in found and found.get("phone") == found["order_id"]:
        del found["order_id"]
    return found
