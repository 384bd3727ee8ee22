"""The one normaliser training and serving share: plumbing neutralised, words that carry tone kept."""
from __future__ import annotations

import pytest

from bot.classify.normalize import MAX_CHARS, normalize


@pytest.mark.parametrize("raw, expected", [
    ("@shopco @mike_r love this blender but the lid cracked after a week https://t.co/x1",
     "@user love this blender but the lid cracked after a week http"),
    ("@shopco you have the worst customer service ever!!!!!! #useless",
     "@user you have the worst customer service ever!!! useless"),
    ("#WorstServiceEver again", "Worst Service Ever again"),
    ("<@U123ABC> see <https://x.com/a|this page> in <#C0123|support>", "@user see this page in support"),
    ("<https://example.com/order/1> is broken", "http is broken"),
    ("I am :rage: right now", "I am rage right now"),
    ("RT @bob: 外卖送来都凉了 #差评", "@user: 外卖送来都凉了 差评"),
    ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
    ("Sooooooo slow", "Sooo slow"),
    ("  many\n\n spaces\there ", "many spaces here"),
    ("Списали деньги дважды, верните!", "Списали деньги дважды, верните!"),
    ("Minu pakk on hiljaks jäänud", "Minu pakk on hiljaks jäänud"),
    ("mail me at anna@example.com", "mail me at anna@example.com"),  # an e-mail is not a mention
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_invisible_and_surrogate_characters_are_dropped_and_length_capped():
    assert normalize("bad\u200b \ud800 text\x00") == "bad text"
    assert len(normalize("a" * 10 + " b" * 10_000)) == MAX_CHARS


def test_it_is_idempotent():
    text = "@a @b RT check https://x.y #BigDeal :smile: !!!!!"
    assert normalize(normalize(text)) == normalize(text)
