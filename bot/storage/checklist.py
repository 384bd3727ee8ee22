"""Which steps of "a complaint is a gift" each incident has done, from the store (bot/coach/checklist.py defines them).

Steps an agent performed in words are rows of `checklist_steps` (written when the reply or the card's apology
went out). Steps done with buttons are read where those buttons already write, so nothing is kept twice and a
restart loses nothing: an offer given or approved is "fix", a follow-up scheduled with *Resolved* is "check"
(satisfaction), the internal follow-up (a customer flag) is "prevent".
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.coach.checklist import STEPS, TEXT_STEPS
from bot.storage.followups import is_internal
from bot.storage.tables import ChecklistStep, Compensation, CustomerFlag, FollowUp

FIXED_STATES = ("approved", "given")   # an offer the customer gets: step 6, fix fast


def steps_by_incident(session: Session, incident_ids: Sequence[int]) -> dict[int, frozenset[str]]:
    """Every incident's steps done so far (an incident with none maps to an empty set)."""
    done: dict[int, set[str]] = defaultdict(set)
    ids = list(incident_ids)
    if not ids:
        return {}
    for incident_id, step in session.execute(
            select(ChecklistStep.incident_id, ChecklistStep.step).where(ChecklistStep.incident_id.in_(ids))):
        done[incident_id].add(step)
    for (incident_id,) in session.execute(select(Compensation.incident_id).where(
            Compensation.incident_id.in_(ids), Compensation.state.in_(FIXED_STATES))):
        done[incident_id].add("fix")
    for incident_id, when in session.execute(
            select(FollowUp.incident_id, FollowUp.when_spec).where(FollowUp.incident_id.in_(ids))):
        done[incident_id].add("prevent" if is_internal(when) else "check")
    for (incident_id,) in session.execute(select(CustomerFlag.incident_id).where(CustomerFlag.incident_id.in_(ids))):
        done[incident_id].add("prevent")
    return {i: frozenset(s for s in done[i] if s in STEPS) for i in ids}


def record_steps(session: Session, incident_id: int, steps: Collection[str], source: str, by_user: str,
                 at) -> list[str]:  # type: ignore[no-untyped-def]
    """Add the steps not yet recorded for the incident (first time wins); returns those added."""
    wanted = [s for s in TEXT_STEPS if s in set(steps)]
    if not wanted:
        return []
    have = set(session.scalars(select(ChecklistStep.step).where(ChecklistStep.incident_id == incident_id)))
    added = []
    for step in wanted:
        if step in have:
            continue
        try:
            with session.begin_nested():  # another worker recording the same step: theirs stands
                session.add(ChecklistStep(incident_id=incident_id, step=step, source=source, by_user=by_user, at=at))
            added.append(step)
        except IntegrityError:
            pass
    return added
