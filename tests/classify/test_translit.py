"""Russian typed in Latin letters reaches the model in Cyrillic (v12 read such lines as abusive at 0.85-0.98)."""
from __future__ import annotations

import pytest

from bot.classify.translit import model_text, to_cyrillic


@pytest.mark.parametrize("latin, cyrillic", [
    ("zdravstvuite, zakaz 48213 ne prishel, uzhe nedelyu zhdu", "здравствуйте, заказ 48213 не пришел, уже неделю жду"),
    ("izvinite, net russkoi raskladki. tak kogda privezut?", "извините, нет русской раскладки. так когда привезут?"),
    ("pochemu mne spisali dengi dvazhdy? vernite pozhaluista", "почему мне списали денги дважды? верните пожалуйста"),
    ("ya hochu vernut tovar, on slomannyi", "я хочу вернут товар, он сломанный"),
    ("Spasibo, vsyo prishlo", "Спасибо, всё пришло"),
    ("shchas posmotryu, chto tam s kurerom", "щас посмотрю, что там с курером"),
])
def test_common_spellings_map_back(latin: str, cyrillic: str):
    assert to_cyrillic(latin) == cyrillic


def test_links_mentions_markup_and_codes_stay_as_written():
    text = "@shopco <https://t.co/x1|link> zakaz ORD-77 :pray: `abc` *srochno*"
    assert to_cyrillic(text) == "@shopco <https://t.co/x1|link> заказ ORD-77 :pray: `abc` *срочно*"


def test_only_latin_russian_is_converted():
    assert model_text("zakaz ne prishel", "ru") == "заказ не пришел"
    assert model_text("заказ не пришёл, order 123", "ru") == "заказ не пришёл, order 123"  # already Cyrillic
    assert model_text("my order never arrived", "en") == "my order never arrived"
    assert model_text("tellimus ei jõudnud kohale", "et") == "tellimus ei jõudnud kohale"


@pytest.mark.slow
def test_the_served_model_no_longer_reads_translit_russian_as_abuse(engine):
    lines = ["zdravstvuite, zakaz 48213 ne prishel, uzhe nedelyu zhdu",
             "dobryi den, ne mogu zaregistrirovatsya na reis, sait vydaet oshibku",
             "izvinite, net russkoi raskladki. tak kogda privezut?"]
    for line, result in zip(lines, engine.classifier.classify_many(lines)):
        assert result.language == "ru", line
        assert not (result.tone.label == "abusive" and not result.tone.unsure), (line, result.tone)


def test_soft_sign_and_rare_letters():
    assert to_cyrillic("den' rozhdeniya") == "день рождения"
    assert to_cyrillic("taksi ekspress") == "такси експресс"  # no э: "e" is е, as most people type it
    assert to_cyrillic("premium aquarium") == "премиум акуариум"
    assert to_cyrillic("dobryi russkiy sinii") == "добрый русский синий"
