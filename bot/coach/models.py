"""Boundary types of the engine: what goes into the planner and the plan that comes out."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.labels import Language, Role, Severity


# where a customer's lifetime value came from, as the card and the supervisor alert say it
ValueSource = Literal["customers table", "Slack profile", "customer profile", "customer figures", "playbook default"]


class Prediction(BaseModel):
    label: str
    confidence: float = Field(ge=0, le=1)
    unsure: bool = Field(False, description="confidence below the configured threshold")


class Classification(BaseModel):
    language: Language
    tone: Prediction
    complaint: Prediction


class ThreadMessage(BaseModel):
    """One earlier message of the thread; only the customer's count as details given."""

    text: str
    from_customer: bool = True
    has_files: bool = False


class PastIncident(BaseModel):
    """An earlier incident of the same customer (found by their pseudonym), as the next agent needs it."""

    opened_at: datetime
    complaint: str
    severity: Severity
    status: str = Field(description="open | resolved")
    tone_first: str
    tone_last: str
    given: list[str] = Field(default_factory=list, description="compensation approved or given, e.g. \"'Free express "
                                                                 "re-shipment' (15 USD): given\"")
    flags: list[str] = Field(default_factory=list, description="the internal follow-up's notes (stored redacted)")
    resolved: str | None = Field(None, description="who resolved it and when")


class CustomerMemory(BaseModel):
    """What the coach knows of this customer from earlier threads, so they never tell the story twice."""

    incidents: list[PastIncident] = Field(default_factory=list, description="most recent first; this thread excluded")
    open_follow_ups: list[str] = Field(default_factory=list, description="follow-ups of those incidents not yet done")

    @property
    def flags(self) -> list[str]:
        return [flag for incident in self.incidents for flag in incident.flags]

    @property
    def last_given(self) -> str | None:
        """What was given the last time anything was (most recent incident first)."""
        return next((incident.given[-1] for incident in self.incidents if incident.given), None)


class CustomerProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str | None = None
    lifetime_value: float | None = Field(None, ge=0, description="known lifetime revenue; else from the playbook")
    value_source: ValueSource | None = Field(None, description="where lifetime_value came from (None: given directly)")
    value_currency: str | None = Field(None, pattern=r"^[A-Z]{3}$",
                                       description="lifetime_value's currency; None: the playbook's")
    tier: str | None = Field(None, max_length=32, description="the customer's tier in the business's records")
    average_order_value: float | None = Field(None, gt=0)
    orders_per_year: float | None = Field(None, gt=0)
    years: float | None = Field(None, gt=0)
    previous_contacts: int = Field(0, ge=0, description="earlier complaints about this issue")
    memory: CustomerMemory | None = Field(None, description="earlier incidents, flags, follow-ups (bot/coach/memory.py)")


class CompensationSuggestion(BaseModel):
    id: str
    offer: str
    value: float
    currency: str
    authority: Role
    needs_approval: bool
    customer_text: str | None = Field(None, description="what to tell the customer, in the plan's language")


class FollowUpItem(BaseModel):
    when: str
    action: str


class ValueAtStake(BaseModel):
    lifetime_revenue: float
    lifetime_margin: float
    currency: str
    high_value: bool
    value_source: ValueSource = "playbook default"
    tier: str | None = None
    currency_note: str | None = Field(
        None, description="the customer's recorded value is in another currency: shown, not converted, not used")


class RecoveryPlan(BaseModel):
    language: Language
    tone: Prediction
    complaint: Prediction
    severity: Severity
    apology: str
    question: str | None
    question_detail: str | None = None
    compensation: CompensationSuggestion | None
    compensation_above: CompensationSuggestion | None = Field(
        None, description="the better option a higher role could approve"
    )
    follow_up: list[FollowUpItem]
    why: list[str]
    abusive: bool = False
    churn_risk: bool = Field(False, description="the customer says they may leave: the value at stake leads the card")
    value_at_stake: ValueAtStake
    details_found: dict[str, str] = Field(default_factory=dict)
    product: str | None = Field(None, description="the playbook catalogue's id of the product named, never an order number")
    customer_memory: CustomerMemory | None = Field(None, description="the customer's history, when it was looked up")
    checklist: list[str] | None = Field(None, description="steps of 'a complaint is a gift' done so far in this thread "
                                                          "(bot/coach/checklist.py), when it was looked up")
