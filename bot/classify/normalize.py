"""One text normaliser for training and serving, so the model never learns what a tweet's plumbing looks like.

Public training sets are full of @mentions, links and hashtags (the offensive-tweet sets most of all), so a
model trained on raw text learns "has a link" -> abusive. Slack adds its own markup (`<@U123>`,
`<https://x|label>`, `:rage:`). Everything that is addressing or plumbing becomes one neutral token; words
inside hashtags and emoji names are kept because they carry tone ("#useless", ":rage:").
"""
from __future__ import annotations

import html
import re
import unicodedata

MAX_CHARS = 2000  # a support message longer than this is cut: the model reads at most 128 tokens anyway

_SLACK_USER = re.compile(r"<[@!](?:[UWB][A-Z0-9]+|here|channel|everyone)(?:\|[^>]*)?>")
_SLACK_CHANNEL = re.compile(r"<#C[A-Z0-9]+(?:\|([^>]*))?>")
_SLACK_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w[\w.]*", re.UNICODE)
_HASHTAG = re.compile(r"(?<![\w#&])#(\w+)", re.UNICODE)
_SHORTCODE = re.compile(r"(?<![\w:]):([a-z0-9_+\-]{2,40}):(?!\w)")
_RETWEET = re.compile(r"^(?:RT\s+)+", re.IGNORECASE)
_REPEAT = re.compile(r"(\S)\1{3,}")  # "!!!!!!!" -> "!!!", "soooooo" -> "sooo"
_SPACE = re.compile(r"\s+")

MENTION_TOKEN = "@user"
URL_TOKEN = "http"


def _hashtag_words(match: re.Match) -> str:
    """'#WorstServiceEver' -> 'Worst Service Ever', '#useless' -> 'useless'."""
    tag = match.group(1)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", tag).replace("_", " ")


def normalize(text: str) -> str:
    """The model's view of a message: markup and addressing neutralised, whitespace collapsed, length capped."""
    text = text[:MAX_CHARS * 2]
    text = html.unescape(text)  # Slack and Twitter both escape &, <, >
    text = _SLACK_USER.sub(MENTION_TOKEN, text)
    text = _SLACK_CHANNEL.sub(lambda m: m.group(1) or "channel", text)
    text = _SLACK_LINK.sub(lambda m: m.group(2) or URL_TOKEN, text)
    text = _URL.sub(URL_TOKEN, text)
    text = _RETWEET.sub("", text.strip())
    text = _MENTION.sub(MENTION_TOKEN, text)
    text = _HASHTAG.sub(_hashtag_words, text)
    text = _SHORTCODE.sub(lambda m: " " + m.group(1).replace("_", " ").replace("-", " ") + " ", text)
    text = re.sub(r"(?:@user\s*){2,}", MENTION_TOKEN + " ", text)  # "@a @b @c hi" -> "@user hi"
    text = _REPEAT.sub(lambda m: m.group(1) * 3, text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in "\n\t\u200d")
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]
