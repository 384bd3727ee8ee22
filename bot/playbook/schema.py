"""Pydantic schema of `prompts/playbook.yaml`.

Strict on purpose: unknown keys, negative money, roles off the authority ladder, a template missing
one of the playbook's languages, or an apology that qualifies itself are refused with the field path,
so that a broken upload never replaces a working playbook. Types are strict (no "10" for 10, no true
for 1), numbers finite and bounded (`.inf` once suppressed every offer), strings and lists bounded,
placeholders bare (`{issue}`, never `{issue:>999999999}`), follow-ups within a year.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.labels import COMPLAINTS, SEVERITIES, TONES, Complaint, Language, Role, Severity, Tone
from bot.playbook.text import (
    ALLOWED_PLACEHOLDERS,
    Qualifier,
    first_banned,
    first_qualifier,
    normalise_phrase,
    placeholder_problems,
)

DetailKind = Literal[
    "order_id", "amount", "date", "email", "phone", "tracking_number", "device", "photo", "address", "product"
]
WHEN_PATTERN = re.compile(r"^(now|internal|\+[0-9]{1,3}d)$")  # [0-9], not \d: '+３d' is no delay
MAX_FOLLOW_UP_DAYS = 365
MAX_MONEY = 100_000.0     # one compensation option, one average order, in the playbook's currency
MAX_POINTS = 100          # severity points; thresholds up to 10x that

Template = Annotated[str, Field(min_length=1, max_length=1000)]  # a Slack section holds 3,000 characters
ShortText = Annotated[str, Field(min_length=3, max_length=300)]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]
Points = Annotated[int, Field(ge=0, le=MAX_POINTS)]
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
__all__ = ["ALLOWED_PLACEHOLDERS", "Playbook"]


class Strict(BaseModel):
    model_config = _STRICT


class LocalizedText(RootModel[dict[Language, Template]]):
    """A text in every language the playbook declares (the declared list comes in via context)."""

    model_config = ConfigDict(frozen=True, strict=True)

    @model_validator(mode="after")
    def _complete_and_well_formed(self, info: ValidationInfo) -> "LocalizedText":
        languages = (info.context or {}).get("languages") or ["en"]
        missing = [lang for lang in languages if lang not in self.root]
        if missing:
            raise ValueError(f"missing language(s): {', '.join(missing)}")
        for lang, text in self.root.items():
            problems = placeholder_problems(text)
            if problems:
                raise ValueError(f"[{lang}] " + "; ".join(problems))
        return self

    def get(self, language: str, fallback: str = "en") -> str:
        return self.root.get(language) or self.root[fallback]  # type: ignore[index]


class ApologyText(LocalizedText):
    """An apology must not qualify itself or shift blame: checked against the playbook's banned phrases, and
    against the shape anywhere in the text ("…{issue}, but that was the courier's fault", bot/playbook/text.py)."""

    @model_validator(mode="after")
    def _no_banned_phrases(self, info: ValidationInfo) -> "ApologyText":
        banned: dict[str, list[str]] = (info.context or {}).get("banned_phrases") or {}
        for lang, text in self.root.items():
            phrases = banned.get(lang)
            hit = first_banned(text, [p for p in phrases if isinstance(p, str)]) if isinstance(phrases, list) else None
            if hit is not None:
                raise ValueError(f"[{lang}] apology contains banned phrase {hit!r}")
            fault = first_qualifier(text, [lang])
            if fault is not None:
                raise ValueError(f"[{lang}] {_fault_words(fault)}: {fault.phrase!r}")
        return self


def _fault_words(fault: Qualifier) -> str:
    what = {"blame": "blames someone", "policy": "gives policy or terms as the reason",
            "refusal": "says nothing can be done"}[fault.reason]
    return f"qualifies the apology and {what}" if fault.contrast else what


class CustomerText(ApologyText):
    """Words the agent sends to the customer: in every language, and held to the apology's banned phrases."""


class Question(Strict):
    detail: DetailKind = Field(description="what the question collects; skipped when the thread already has it")
    text: LocalizedText


class CompensationOption(Strict):
    id: str = Field(pattern=r"^[a-z0-9_\-]+$", max_length=64)
    offer: ShortText
    value: float = Field(ge=0, le=MAX_MONEY)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    authority: Role
    min_severity: Severity = "low"
    customer_text: CustomerText | None = Field(
        None, description="what the agent tells the customer, per language; `offer` is the agent's own summary")


class Product(Strict):
    """One catalogue entry: incidents are counted per product (stats, patterns), whatever language named it."""

    id: str = Field(pattern=r"^[a-z0-9]+(?:[ _\-][a-z0-9]+)*$", max_length=64,
                    description="what incidents and stats record, e.g. 'wiper blades'")
    names: dict[Language, Annotated[list[Phrase], Field(min_length=1, max_length=50)]] = Field(
        description="how customers write it, per language; a name also matches with up to 3 more letters "
                    "(plurals, Russian and Estonian endings), so a stem such as 'наушник' covers 'наушников'")

    @field_validator("names")
    @classmethod
    def _every_language_named(cls, value: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
        languages = (info.context or {}).get("languages") or ["en"]
        missing = [lang for lang in languages if lang not in value]
        if missing:
            raise ValueError(f"missing language(s): {', '.join(missing)}")
        for lang, names in value.items():
            if any(not normalise_phrase(name) for name in names):
                raise ValueError(f"[{lang}] a name is empty once spaces and invisible characters are removed")
        return value


class FollowUpStep(Strict):
    when: str
    action: ShortText

    @field_validator("when")
    @classmethod
    def _when_format(cls, value: str) -> str:
        if not WHEN_PATTERN.fullmatch(value):
            raise ValueError(f"must be 'now', 'internal' or '+<N>d' with N from 1 to {MAX_FOLLOW_UP_DAYS} (e.g. '+3d')")
        if value.startswith("+") and not 1 <= int(value[1:-1]) <= MAX_FOLLOW_UP_DAYS:
            raise ValueError(f"a follow-up must be due within a year: '+1d' to '+{MAX_FOLLOW_UP_DAYS}d'")
        return value

    @property
    def delay_days(self) -> int | None:
        return int(self.when[1:-1]) if self.when.startswith("+") else None


class CustomerValue(Strict):
    """Defaults for customer lifetime value (CLV) when the customer's own figures are unknown."""

    average_order_value: float = Field(gt=0, le=MAX_MONEY)
    orders_per_year: float = Field(gt=0, le=1000)
    years: float = Field(gt=0, le=100)
    margin: float = Field(gt=0, le=1, description="a share of revenue")
    high_value_threshold: float = Field(ge=0, le=1e9, description="lifetime revenue from which a customer is high value")
    max_offer_share: float = Field(
        gt=0, le=1, description="no offer above this share of the customer's lifetime margin"
    )


class SeverityThresholds(Strict):
    medium: int = Field(ge=1, le=10 * MAX_POINTS)
    high: int = Field(ge=1, le=10 * MAX_POINTS)
    critical: int = Field(ge=1, le=10 * MAX_POINTS)

    @model_validator(mode="after")
    def _increasing(self) -> "SeverityThresholds":
        if not self.medium < self.high < self.critical:
            raise ValueError("thresholds must increase: medium < high < critical")
        return self


class SeverityRules(Strict):
    tone_points: dict[Tone, Points]
    complaint_points: dict[Complaint, Points]
    repeat_contact_points: Points
    churn_threat_points: Points = Field(2, description="a customer who says they will leave (prompts/signals.yaml)")
    high_value_points: Points
    thresholds: SeverityThresholds

    @field_validator("tone_points", "complaint_points")
    @classmethod
    def _complete_non_negative(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        expected = TONES if info.field_name == "tone_points" else COMPLAINTS
        missing = [key for key in expected if key not in value]
        if missing:
            raise ValueError(f"missing: {', '.join(missing)}")
        return value


class ApprovalRules(Strict):
    """How a request for an offer above the agent's authority is handled (every eligible approver is asked)."""

    fallback_after_minutes: float = Field(
        15, gt=0, le=1440, description="no decision by then: the agent is told to give what is theirs meanwhile")


class FollowUpPlan(Strict):
    default: list[FollowUpStep] = Field(min_length=1, max_length=20)
    by_complaint: dict[Complaint, Annotated[list[FollowUpStep], Field(max_length=20)]] = Field(default_factory=dict)


class AbusivePath(Strict):
    boundary: LocalizedText = Field(description="what the agent says: calm, sets the boundary, offers to continue")
    steps: list[FollowUpStep] = Field(min_length=1, max_length=20)


class Playbook(Strict):
    company: str = Field(min_length=1, max_length=100)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    languages: list[Language] = Field(min_length=1)
    customer_value: CustomerValue
    severity: SeverityRules
    banned_phrases: dict[Language, Annotated[list[Phrase], Field(max_length=500)]]
    apologies: dict[Literal["angry", "frustrated", "anxious", "neutral", "positive"], ApologyText]
    acknowledgement: LocalizedText = Field(description="said instead of an apology when there is nothing to fix")
    issue_phrases: dict[Complaint, LocalizedText]
    questions: dict[Complaint, Annotated[list[Question], Field(max_length=20)]]
    unsure_question: LocalizedText = Field(description="an open question when the complaint type is unclear")
    compensation: dict[Complaint, Annotated[list[CompensationOption], Field(max_length=20)]]
    follow_up: FollowUpPlan
    abusive: AbusivePath
    approvals: ApprovalRules = Field(default_factory=ApprovalRules)
    products: Annotated[list[Product], Field(max_length=2000)] = Field(
        default_factory=list, description="the catalogue: an incident's product is one of these, or none")

    @field_validator("languages")
    @classmethod
    def _english_first_class(cls, value: list[str]) -> list[str]:
        if "en" not in value:
            raise ValueError("must include 'en' (the fallback language)")
        if len(set(value)) != len(value):
            raise ValueError("duplicate language")
        return value

    @field_validator("banned_phrases")
    @classmethod
    def _phrases_visible(cls, value: dict[str, list[str]], info: ValidationInfo) -> dict[str, list[str]]:
        missing = [lang for lang in info.data.get("languages") or [] if lang not in value]
        if missing:
            raise ValueError(f"missing language(s): {', '.join(missing)} (an empty list [] is allowed)")
        for lang, phrases in value.items():
            empty = [i for i, phrase in enumerate(phrases) if not normalise_phrase(phrase)]
            if empty:  # an empty phrase would match every reply
                raise ValueError(f"[{lang}] phrase {empty[0]} is empty once spaces and invisible characters are removed")
        return value

    @field_validator("apologies")
    @classmethod
    def _every_non_abusive_tone(cls, value: dict[str, ApologyText]) -> dict[str, ApologyText]:
        missing = [tone for tone in TONES if tone != "abusive" and tone not in value]
        if missing:
            raise ValueError(f"missing apology for tone(s): {', '.join(missing)} (abusive uses the abusive path)")
        return value

    @field_validator("issue_phrases", "questions")
    @classmethod
    def _every_complaint(cls, value: dict[str, object]) -> dict[str, object]:
        missing = [c for c in COMPLAINTS if c not in value]
        if missing:
            raise ValueError(f"missing complaint type(s): {', '.join(missing)}")
        return value

    @field_validator("issue_phrases")
    @classmethod
    def _issue_phrases_keep_apologies_clean(cls, value: dict[str, LocalizedText],
                                            info: ValidationInfo) -> dict[str, LocalizedText]:
        """An issue phrase lands inside every apology: "the delay, although the courier made the mistake" must not."""
        apologies: dict[str, ApologyText] = info.data.get("apologies") or {}
        company = info.data.get("company") or ""
        for complaint, phrase in value.items():
            for lang, issue in phrase.root.items():
                for tone, apology in apologies.items():
                    template = apology.root.get(lang)
                    rendered = (template or "{issue}").replace("{issue}", issue).replace("{company}", company)
                    fault = first_qualifier(rendered, [lang])
                    if fault is not None:
                        raise ValueError(f"{complaint}.{lang} in the {tone} apology: {_fault_words(fault)}: {fault.phrase!r}")
        return value

    @field_validator("products")
    @classmethod
    def _unique_product_ids(cls, value: list[Product]) -> list[Product]:
        seen: set[str] = set()
        for index, product in enumerate(value):
            if product.id in seen:
                raise ValueError(f"[{index}].id: duplicate product id {product.id!r}")
            seen.add(product.id)
        return value

    @field_validator("compensation")
    @classmethod
    def _unique_option_ids(cls, value: dict[str, list[CompensationOption]]) -> dict[str, list[CompensationOption]]:
        for complaint, options in value.items():
            seen: set[str] = set()
            for index, option in enumerate(options):
                if option.id in seen:
                    raise ValueError(f"{complaint}[{index}].id: duplicate option id {option.id!r}")
                seen.add(option.id)
        return value

    def lifetime_revenue(self, average_order_value: float | None = None, orders_per_year: float | None = None,
                         years: float | None = None) -> float:
        cv = self.customer_value
        return (average_order_value or cv.average_order_value) * (orders_per_year or cv.orders_per_year) * (
            years or cv.years
        )


SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
