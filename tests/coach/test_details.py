from __future__ import annotations

import pytest

from bot.coach.details import find_details, mentions_repeat_contact


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("I was charged twice for order 48213 and nobody answers!!", "order_id", "order 48213"),
        ("where is #A-99812?", "order_id", "#A-99812"),
        ("Мне дважды списали 1200 руб. за заказ №48213", "order_id", "заказ №48213"),
        ("我的订单号是 48213，扣了99元", "order_id", "订单号是 48213"),
        ("Tellimus 48213 on ikka veel tulemata", "order_id", "Tellimus 48213"),
        ("they took $49.99 from me", "amount", "$49.99"),
        ("списали 1 200 руб", "amount", "1 200 руб"),
        ("扣了99元", "amount", "99元"),
        ("maksin 25 € eile", "amount", "25 €"),
        ("it happened yesterday", "date", "yesterday"),
        ("вчера вечером", "date", "вчера"),
        ("3月5日下单的", "date", "3月5日"),
        ("eile õhtul", "date", "eile"),
        ("my login is anna.k@example.com", "email", "anna.k@example.com"),
        ("on my iPhone the app crashes", "device", "iPhone"),
        ("I attached a photo", "photo", "attached"),
    ],
)
def test_finds_details_in_four_languages(text, kind, value):
    assert find_details([text]).get(kind) == value


@pytest.mark.parametrize("text", ["I may need help", "please check my mail", "hello there", "ok thanks"])
def test_no_false_details(text):
    assert find_details([text]) == {}


def test_attachment_counts_as_photo():
    assert find_details(["here it is"], has_files=True)["photo"] == "(attachment)"


@pytest.mark.parametrize(
    "text, repeat",
    [("this is the third time I write", True), ("Пишу уже снова!", True), ("我又来问了", True),
     ("Kirjutan jälle", True), ("my parcel is late", False)],
)
def test_repeat_contact(text, repeat):
    assert mentions_repeat_contact([text]) is repeat
