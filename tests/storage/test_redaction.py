"""PII is redacted in en/ru/zh/et text; order numbers, dates, amounts and times are kept."""
from __future__ import annotations

import pytest

from bot.storage.redaction import estonian_id_ok, iban_ok, luhn_ok, redact


@pytest.mark.parametrize(("text", "expected"), [
    # en
    ("Email me at john.smith+orders@example.co.uk please", "Email me at [EMAIL] please"),
    ("Call me on +44 20 7946 0958 today", "Call me on [PHONE] today"),
    ("my number is (415) 555-2671", "my number is [PHONE]"),
    ("Card 4111 1111 1111 1111 was charged twice", "Card [CARD] was charged twice"),
    ("card 5500-0000-0000-0004 exp 12/27", "card [CARD] exp 12/27"),
    ("paid with 378282246310005 yesterday", "paid with [CARD] yesterday"),
    ("refund to GB82 WEST 1234 5698 7654 32", "refund to [IBAN]"),
    ("ask <@U04ABCDEF> about it, my IP is 192.168.10.24", "ask [USER] about it, my IP is [IP]"),
    # ru
    ("Мой телефон +7 912 345-67-89, почта ivan.petrov@mail.ru", "Мой телефон [PHONE], почта [EMAIL]"),
    ("позвоните 8 (912) 345-67-89 или на иван@почта.рф", "позвоните [PHONE] или на [EMAIL]"),
    ("номер 89123456789, карта 4276 3800 1234 5679", "номер [PHONE], карта [CARD]"),
    ("СНИЛС 112-233-445 95", "СНИЛС [ID]"),
    # zh
    ("我的手机号是13800138000，邮箱是wang.li@qq.com", "我的手机号是[PHONE]，邮箱是[EMAIL]"),
    ("请打电话 138 0013 8000 联系我", "请打电话 [PHONE] 联系我"),
    ("身份证号11010519491231002X，银行卡6222021234567890128", "身份证号[ID]，银行卡[CARD]"),
    # et
    ("Helistage +372 5123 4567 või kirjutage mari@mail.ee", "Helistage [PHONE] või kirjutage [EMAIL]"),
    ("telefon 5123 4567, isikukood 37605030299", "telefon [PHONE], isikukood [ID]"),
    ("IBAN EE38 2200 2210 2014 5685, aitäh", "IBAN [IBAN], aitäh"),
])
def test_pii_is_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "Order #A-48213 arrived broken on 12.03.2024 at 15:30",
    "заказ 123456789 от 2024-03-12 на 12 500 000 руб",
    "订单号 20240312 退款 199 元",
    "tellimus 1234567, arve 250.00 EUR",
    "I paid $1 234 567 for 3 items",
    "tracking 1Z999AA10123456784",
])
def test_business_details_are_kept(text: str) -> None:
    assert redact(text) == text


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("EE382200221020145685") and not iban_ok("EE382200221020145686")
    assert estonian_id_ok("37605030299") and not estonian_id_ok("37605030298")


def test_an_invalid_card_number_next_to_a_valid_one_does_not_hide_it():
    assert redact("4111 1111 1111 1111 12") == "[CARD] 12"
