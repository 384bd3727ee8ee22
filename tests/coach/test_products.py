"""Product from the playbook's catalogue, never an order number (issue 12, item 10)."""
from __future__ import annotations

import copy

import pytest
import yaml

from bot.coach import Classification, Prediction, plan_recovery
from bot.coach.details import find_product
from bot.playbook import PlaybookError, parse_playbook


@pytest.mark.parametrize("text, product", [
    ("My wiper blades broke after a week, order 48213", "wiper blades"),
    ("The windshield wipers squeak", "wiper blades"),
    ("Дворники сломались через неделю", "wiper blades"),
    ("雨刮器一周就坏了", "wiper blades"),
    ("Klaasipuhastid läksid katki", "wiper blades"),
    ("Наушников не было в коробке", "headphones"),
    ("我的耳机坏了", "headphones"),
    ("Kõrvaklapid ei tööta", "headphones"),
    ("Two kettles arrived broken", "kettle"),
    ("Чехлы пришли не того цвета", "phone case"),
    ("Talverehvid on katki", "winter tyres"),
    ("зимнюю резину привезли не ту", "winter tyres"),
    ("背包的拉链坏了", "backpack"),
])
def test_named_products_in_four_languages(playbook, text, product):
    found = find_product([text], playbook.products)
    assert found is not None and found[0] == product


@pytest.mark.parametrize("text", ["order 48213 is late", "заказ №48213 не пришёл", "订单号是 48213", "Tellimus 48213",
                                  "Call me at +372 5123 4567", "my case number is 7781", "the headphonejack app"])
def test_no_product_is_made_up(playbook, text):
    assert find_product([text], playbook.products) is None


def _cls(lang: str = "en") -> Classification:
    return Classification(language=lang, tone=Prediction(label="angry", confidence=0.9),
                          complaint=Prediction(label="product_quality", confidence=0.9))


def test_an_order_number_is_an_order_reference_never_a_product(playbook):
    plan = plan_recovery("order 48213: it broke on day one", _cls(), playbook)
    assert plan.product is None
    assert plan.details_found["order_id"] == "order 48213"
    named = plan_recovery("order 48213: the kettle broke on day one", _cls(), playbook)
    assert named.product == "kettle" and named.details_found["product"] == "kettle"
    assert named.details_found["order_id"] == "order 48213"


def test_a_product_from_an_earlier_message_of_the_thread(playbook):
    from bot.coach import ThreadMessage

    plan = plan_recovery("still broken!", _cls("ru"), playbook, thread=[ThreadMessage(text="Наушники не работают")])
    assert plan.product == "headphones"


def _mutated(text: str, change) -> str:
    data = yaml.safe_load(text)
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_catalogue_is_validated(playbook_text):
    def duplicate(d):
        d["products"].append(copy.deepcopy(d["products"][0]))
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(_mutated(playbook_text, duplicate))
    assert any("duplicate product id 'wiper blades'" in str(p) for p in caught.value.problems)

    with pytest.raises(PlaybookError) as caught:
        parse_playbook(_mutated(playbook_text, lambda d: d["products"][1]["names"].pop("et")))
    assert any(str(p).startswith("products[1].names") and "et" in str(p) for p in caught.value.problems)

    with pytest.raises(PlaybookError) as caught:
        parse_playbook(_mutated(playbook_text, lambda d: d["products"][0].update(id="Order #48213")))
    assert any(str(p).startswith("products[0].id") for p in caught.value.problems)


def test_a_playbook_without_a_catalogue_names_no_product(playbook_text):
    playbook = parse_playbook(_mutated(playbook_text, lambda d: d.pop("products")))
    assert playbook.products == []
    assert plan_recovery("the kettle broke, order 48213", _cls(), playbook).product is None
