"""Pydantic schema of `prompts/playbook.yaml`.

Strict on purpose: unknown keys, negative money, roles off the authority ladder, a template missing
one of the playbook's languages, or an apology that qualifies itself are refused with the field path,
so that a broken upload never replaces a working playbook.
"""
from __future__ import annotations

import re
import string
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

DetailKind = Literal[
    "order_id", "amount", "date", "email", "phone", "tracking_number", "device", "photo", "address", "product"
]
ALLOWED_PLACEHOLDERS = {"issue", "company", "days"}
WHEN_PATTERN = re.compile(r"^(now|internal|\+\d+d)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:  # unbalanced braces
        raise ValueError(f"malformed template {template!r}: {exc}") from exc


class LocalizedText(RootModel[dict[Language, Annotated[str, Field(min_length=1)]]]):
    """A text in every language the playbook declares (the declared list comes in via context)."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="after")
    def _complete_and_well_formed(self, info: ValidationInfo) -> "LocalizedText":
        languages = (info.context or {}).get("languages") or ["en"]
        missing = [lang for lang in languages if lang not in self.root]
        if missing:
            raise ValueError(f"missing language(s): {', '.join(missing)}")
        for lang, text in self.root.items():
            unknown = _placeholders(text) - ALLOWED_PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"[{lang}] unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(ALLOWED_PLACEHOLDERS)}"
                )
        return self

    def get(self, language: str, fallback: str = "en") -> str:
        return self.root.get(language) or self.root[fallback]  # type: ignore[index]


class ApologyText(LocalizedText):
    """An apology must not qualify itself or shift blame: checked against the playbook's banned phrases."""

    @model_validator(mode="after")
    def _no_banned_phrases(self, info: ValidationInfo) -> "ApologyText":
        banned: dict[str, list[str]] = (info.context or {}).get("banned_phrases") or {}
        for lang, text in self.root.items():
            lowered = text.lower()
            for phrase in banned.get(lang, []):
                if phrase.lower() in lowered:
                    raise ValueError(f"[{lang}] apology contains banned phrase {phrase!r}")
        return self


class Question(Strict):
    detail: DetailKind = Field(description="what the question collects; skipped when the thread already has it")
    text: LocalizedText


class CompensationOption(Strict):
    id: str = Field(pattern=r"^[a-z0-9_\-]+$")
    offer: str = Field(min_length=3)
    value: float = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    authority: Role
    min_severity: Severity = "low"


class FollowUpStep(Strict):
    when: str
    action: str = Field(min_length=3)

    @field_validator("when")
    @classmethod
    def _when_format(cls, value: str) -> str:
        if not WHEN_PATTERN.match(value):
            raise ValueError("must be 'now', 'internal' or '+<N>d' (e.g. '+3d')")
        return value

    @property
    def delay_days(self) -> int | None:
        return int(self.when[1:-1]) if self.when.startswith("+") else None


class CustomerValue(Strict):
    """Defaults for customer lifetime value (CLV) when the customer's own figures are unknown."""

    average_order_value: float = Field(gt=0)
    orders_per_year: float = Field(gt=0)
    years: float = Field(gt=0)
    margin: float = Field(gt=0, le=1)
    high_value_threshold: float = Field(ge=0, description="lifetime revenue from which a customer is high value")
    max_offer_share: float = Field(
        gt=0, le=1, description="no offer above this share of the customer's lifetime margin"
    )


class SeverityThresholds(Strict):
    medium: int = Field(ge=1)
    high: int = Field(ge=1)
    critical: int = Field(ge=1)

    @model_validator(mode="after")
    def _increasing(self) -> "SeverityThresholds":
        if not self.medium < self.high < self.critical:
            raise ValueError("thresholds must increase: medium < high < critical")
        return self


class SeverityRules(Strict):
    tone_points: dict[Tone, int]
    complaint_points: dict[Complaint, int]
    repeat_contact_points: int = Field(ge=0)
    high_value_points: int = Field(ge=0)
    thresholds: SeverityThresholds

    @field_validator("tone_points", "complaint_points")
    @classmethod
    def _complete_non_negative(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        expected = TONES if info.field_name == "tone_points" else COMPLAINTS
        missing = [key for key in expected if key not in value]
        if missing:
            raise ValueError(f"missing: {', '.join(missing)}")
        negative = [key for key, points in value.items() if points < 0]
        if negative:
            raise ValueError(f"negative points for: {', '.join(negative)}")
        return value


class FollowUpPlan(Strict):
    default: list[FollowUpStep] = Field(min_length=1)
    by_complaint: dict[Complaint, list[FollowUpStep]] = Field(default_factory=dict)


class AbusivePath(Strict):
    boundary: LocalizedText = Field(description="what the agent says: calm, sets the boundary, offers to continue")
    steps: list[FollowUpStep] = Field(min_length=1)


class Playbook(Strict):
    company: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    languages: list[Language] = Field(min_length=1)
    customer_value: CustomerValue
    severity: SeverityRules
    banned_phrases: dict[Language, list[str]]
    apologies: dict[Literal["angry", "frustrated", "anxious", "neutral", "positive"], ApologyText]
    acknowledgement: LocalizedText = Field(description="said instead of an apology when there is nothing to fix")
    issue_phrases: dict[Complaint, LocalizedText]
    questions: dict[Complaint, list[Question]]
    unsure_question: LocalizedText = Field(description="an open question when the complaint type is unclear")
    compensation: dict[Complaint, list[CompensationOption]]
    follow_up: FollowUpPlan
    abusive: AbusivePath

    @field_validator("languages")
    @classmethod
    def _english_first_class(cls, value: list[str]) -> list[str]:
        if "en" not in value:
            raise ValueError("must include 'en' (the fallback language)")
        if len(set(value)) != len(value):
            raise ValueError("duplicate language")
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

    @model_validator(mode="after")
    def _currencies_match(self) -> "Playbook":
        for complaint, options in self.compensation.items():
            ids = [option.id for option in options]
            if len(set(ids)) != len(ids):
                raise ValueError(f"compensation.{complaint}: duplicate option id")
        return self

    def lifetime_revenue(self, average_order_value: float | None = None, orders_per_year: float | None = None,
                         years: float | None = None) -> float:
        cv = self.customer_value
        return (average_order_value or cv.average_order_value) * (orders_per_year or cv.orders_per_year) * (
            years or cv.years
        )


SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
