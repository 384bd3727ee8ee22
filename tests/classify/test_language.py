import pytest

from bot.classify.language import LanguageDetector

detector = LanguageDetector()


@pytest.mark.parametrize(
    "text, lang",
    [("I was charged twice for my order", "en"), ("ok", "en"), ("thanks!", "en"),
     ("Мне дважды списали деньги", "ru"), ("我的快递还没到", "zh"), ("订单 48213 没到!!", "zh"),
     ("Mu pakk pole ikka veel kohale jõudnud", "et"), ("Miks te ei vasta?", "et"), ("Kus mu tellimus on", "et")],
)
def test_detects_four_languages(text, lang):
    assert detector.detect(text) == lang
