"""Text rules shared by the playbook schema and the reply checker: phrase normalisation, placeholders.

Banned phrases are compared after normalisation so that a double space, a non-breaking space, a
zero-width character or full-width letters cannot smuggle "sorry, but" past the check; templates may
use only bare placeholders, because `str.format` runs every format spec (`{issue:>999999999}` built a
1 GB apology).
"""
from __future__ import annotations

import string
import unicodedata

ALLOWED_PLACEHOLDERS = frozenset({"issue", "company", "days"})


def normalise_phrase(text: str, casefold: bool = True) -> str:
    """NFKC, casefold, drop invisible format characters (zero-width space, soft hyphen), collapse whitespace.

    NFKC maps NBSP, the ideographic space and full-width letters to their plain forms; `str.split()`
    then splits on every Unicode whitespace, so any run of spaces, tabs or line breaks becomes one space.
    `casefold=False` keeps the case, for quoting the writer's own words back to them.
    """
    folded = unicodedata.normalize("NFKC", text)
    folded = folded.casefold() if casefold else folded
    visible = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return " ".join(visible.split())


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` once both are normalised; an empty phrase never matches."""
    return first_banned(text, [phrase]) is not None


def first_banned(text: str, phrases: list[str]) -> str | None:
    """The first of `phrases` found in `text` after normalisation (the text is normalised once)."""
    haystack = normalise_phrase(text)
    for phrase in phrases:
        needle = normalise_phrase(phrase)
        if needle and needle in haystack:
            return phrase
    return None


def placeholder_problems(template: str) -> list[str]:
    """What is wrong with a template's placeholders: unknown names, format specs, conversions, indexing."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:  # unbalanced braces
        return [f"malformed template: {exc} (write a literal brace as '{{{{' or '}}}}')"]
    problems: list[str] = []
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if len(shown) > 40:
            shown = shown[:37] + "...}"
        if conversion is not None or spec:
            problems.append(f"placeholder {shown} has a format spec or conversion; write it bare, e.g. {{issue}}")
        elif name not in ALLOWED_PLACEHOLDERS:
            problems.append(f"unknown placeholder {shown}; allowed: "
                            + ", ".join("{" + p + "}" for p in sorted(ALLOWED_PLACEHOLDERS)))
    return problems
