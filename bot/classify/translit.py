"""Russian typed in Latin letters, put back into Cyrillic before the model reads it.

The encoder learned Russian from Cyrillic text; "zdravstvuite, zakaz ne prishel" is to it a string of rare Latin
pieces, which it read as *abusive* at 0.85-0.98 (labelled support threads, v12). The language detector already
knows such a message is Russian (`LanguageDetector.is_translit_russian`); this maps it back letter by letter, the
common informal spellings first (longest match), so the model sees "здравствуйте, заказ не пришел". Links,
@mentions, #tags, Slack markup and tokens with digits are left as they are (the normaliser handles them).
"""
from __future__ import annotations

import re

from bot.classify.language import CYRILLIC, LATIN

# tried in this order (longer before their parts); 'i' after a vowel is handled in _word (their reading depends on the neighbours)
_CLUSTERS = (
    ("shch", "щ"), ("tsya", "тся"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"),
    ("sh", "ш"), ("yu", "ю"), ("ya", "я"), ("yo", "ё"), ("ye", "е"), ("ju", "ю"), ("ja", "я"), ("jo", "ё"),
    ("je", "е"),
)
# adjective endings, only at the end of a word ("dobryi", "russkiy"); inside one "iya" is "ия"
_ENDINGS = (("yi", "ый"), ("yy", "ый"), ("iy", "ий"), ("ii", "ий"))
_LETTERS = {**dict(zip("abvgdezijklmnoprstufhcyw", "абвгдезийклмнопрстуфхцыв")),
            "x": "кс", "q": "к", "'": "ь", "’": "ь"}
_VOWELS = set("aeiouy")
_SKIP = re.compile(r"(://|^www\.|[@#<>:`0-9])")
_WORD = re.compile(r"[A-Za-z'’]+")


def _word(word: str) -> str:
    lower, out, i = word.lower(), [], 0
    ending = next((cyrillic for latin, cyrillic in _ENDINGS if lower.endswith(latin) and len(lower) > 2), "")
    if ending:
        lower = lower[:-2]
    while i < len(lower):
        for latin, cyrillic in _CLUSTERS:
            if lower.startswith(latin, i):
                out.append(cyrillic)
                i += len(latin)
                break
        else:
            ch = lower[i]
            if ch == "i" and i and lower[i - 1] in _VOWELS and (i + 1 == len(lower) or lower[i + 1] not in _VOWELS):
                out.append("й")  # moi, tvoi, seichas, zdravstvuite
            else:
                out.append(_LETTERS.get(ch, ch))
            i += 1
    text = "".join(out) + ending
    return text.capitalize() if word[:1].isupper() else text


def to_cyrillic(text: str) -> str:
    """Every plain Latin word in Cyrillic; links, mentions, markup and anything with digits unchanged."""
    return " ".join(token if _SKIP.search(token) else _WORD.sub(lambda m: _word(m.group(0)), token)
                    for token in text.split(" "))


def model_text(text: str, language: str) -> str:
    """What the model reads: Cyrillic for Russian written mostly in Latin letters, the text itself otherwise."""
    if language == "ru" and len(LATIN.findall(text)) > len(CYRILLIC.findall(text)):
        return to_cyrillic(text)
    return text
