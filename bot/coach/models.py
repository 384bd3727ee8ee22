"""Boundary types of the engine: what goes into the planner and the plan that comes out."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bot.labels import Language, Role, Severity


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


class CustomerProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str | None = None
    lifetime_value: float | None = Field(None, ge=0, description="known lifetime revenue; else from the playbook")
    average_order_value: float | None = Field(None, gt=0)
    orders_per_year: float | None = Field(None, gt=0)
    years: float | None = Field(None, gt=0)
    previous_contacts: int = Field(0, ge=0, description="earlier complaints about this issue")


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
