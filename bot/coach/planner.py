"""Turn a classified message into a RecoveryPlan by the playbook's rules.

Pure function of its inputs (no model, no I/O), so every rule is unit-testable and the Slack bot,
the CLI and the sandbox all get the same plan for the same message.
"""
from __future__ import annotations

from bot.coach.details import find_details, find_product
from bot.coach.models import (
    Classification,
    CompensationSuggestion,
    CustomerProfile,
    FollowUpItem,
    RecoveryPlan,
    ThreadMessage,
    ValueAtStake,
)
from bot.coach.severity import score_severity
from bot.coach.threats import mentions_threat
from bot.coach.signals import mentions_churn_threat, mentions_repeat_contact
from bot.labels import ROLES, Role
from bot.playbook.schema import SEVERITY_RANK, CompensationOption, Playbook

NO_FIX_TONES = {"neutral", "positive"}


def effective_labels(classification: Classification) -> tuple[str, str]:
    """(tone, complaint) the planner acts on: an unsure complaint becomes 'other', an unsure tone neutral/angry."""
    tone, complaint = classification.tone, classification.complaint
    effective_complaint = "other_complaint" if complaint.unsure and complaint.label != "none" else complaint.label
    # an unsure 'abusive' is treated as heated, not abusive: no boundary speech on a guess
    effective_tone = ("angry" if tone.label == "abusive" else "neutral") if tone.unsure else tone.label
    return effective_tone, effective_complaint


def card_path(classification: Classification) -> str:
    """Which card a message gets: 'abusive' (boundary), 'nothing_to_fix' (acknowledge) or 'recovery' (apology).

    `coach eval` scores the model by these product outcomes, so they are decided here and only here.
    """
    if classification.tone.label == "abusive" and not classification.tone.unsure:
        return "abusive"
    tone, complaint = effective_labels(classification)
    return "nothing_to_fix" if complaint == "none" and tone in NO_FIX_TONES else "recovery"


def message_path(text: str, classification: Classification) -> str:
    """The card path of one message as the product takes it: a threat of harm overrides the model."""
    return "abusive" if mentions_threat([text]) else card_path(classification)


def _value_at_stake(playbook: Playbook, customer: CustomerProfile) -> ValueAtStake:
    """The customer's lifetime value, saying where it came from.

    A recorded value in another currency than the playbook's is never converted (no rates) nor compared
    with the playbook's threshold: the playbook default is used and the card says why.
    """
    revenue, source, note = customer.lifetime_value, customer.value_source, None
    if revenue is not None and customer.value_currency and customer.value_currency != playbook.currency:
        note = (f"{revenue:,.0f} {customer.value_currency} on file ({source or 'customer profile'}) is not in the "
                f"playbook's {playbook.currency}: not converted, the playbook default is used")
        revenue = None
    if revenue is None:
        figures = (customer.average_order_value, customer.orders_per_year, customer.years)
        source = "customer figures" if note is None and any(f is not None for f in figures) else "playbook default"
        revenue = playbook.lifetime_revenue(*figures)
    return ValueAtStake(
        lifetime_revenue=round(revenue, 2),
        lifetime_margin=round(revenue * playbook.customer_value.margin, 2),
        currency=playbook.currency,
        high_value=revenue >= playbook.customer_value.high_value_threshold,
        value_source=source or "customer profile",
        tier=customer.tier,
        currency_note=note,
    )


def _suggestion(option: CompensationOption, agent_role: Role, language: str = "en",
                company: str = "") -> CompensationSuggestion:
    said = option.customer_text.get(language) if option.customer_text is not None else None
    return CompensationSuggestion(
        id=option.id,
        offer=option.offer,
        value=option.value,
        currency=option.currency,
        authority=option.authority,
        needs_approval=ROLES.index(option.authority) > ROLES.index(agent_role),
        customer_text=said.format(company=company, issue="", days="") if said else None,
    )


def choose_compensation(
    options: list[CompensationOption], severity: str, cap: float, agent_role: Role, language: str = "en",
    company: str = "",
) -> tuple[CompensationSuggestion | None, CompensationSuggestion | None]:
    """Best option the agent may give now, and the better one that needs someone above them."""
    eligible = [o for o in options if SEVERITY_RANK[o.min_severity] <= SEVERITY_RANK[severity] and o.value <= cap]
    own_rank = ROLES.index(agent_role)
    mine = [o for o in eligible if ROLES.index(o.authority) <= own_rank]
    above = [o for o in eligible if ROLES.index(o.authority) > own_rank]
    best_mine = max(mine, key=lambda o: (o.value, -ROLES.index(o.authority)), default=None)
    floor = best_mine.value if best_mine else -1.0
    better_above = [o for o in above if o.value > floor]
    # the cheapest sufficient step up: the lowest role, then the highest value that role can give
    best_above = min(better_above, key=lambda o: (ROLES.index(o.authority), -o.value), default=None)
    if best_mine is None and best_above is not None:
        return _suggestion(best_above, agent_role, language, company), None
    return (
        _suggestion(best_mine, agent_role, language, company) if best_mine else None,
        _suggestion(best_above, agent_role, language, company) if best_above else None,
    )


def plan_recovery(
    text: str,
    classification: Classification,
    playbook: Playbook,
    thread: list[ThreadMessage] | None = None,
    customer: CustomerProfile | None = None,
    agent_role: Role = "agent",
    has_files: bool = False,
) -> RecoveryPlan:
    thread = thread or []
    customer = customer or CustomerProfile()
    lang = classification.language if classification.language in playbook.languages else "en"
    tone, complaint = classification.tone, classification.complaint
    customer_texts = [m.text for m in thread if m.from_customer] + [text]
    details = find_details(customer_texts, has_files=has_files or any(m.has_files for m in thread))
    named = find_product(customer_texts, playbook.products)
    if named is not None:
        details["product"] = named[1]
    why: list[str] = []

    stake = _value_at_stake(playbook, customer)
    if stake.currency_note:
        why.append(f"Customer value: {stake.currency_note}.")
    memory = customer.memory
    if memory is not None and memory.incidents:
        latest = memory.incidents[0]
        why.append(
            f"Returning customer: {len(memory.incidents)} earlier incident(s), the latest {latest.complaint.replace('_', ' ')} "
            f"on {latest.opened_at:%Y-%m-%d} ({latest.status})"
            + (f"; last given {memory.last_given}" if memory.last_given else "")
            + ". Show you know it: they should never have to tell the story twice."
        )
    repeat = customer.previous_contacts > 0 or mentions_repeat_contact(customer_texts)
    churn = mentions_churn_threat(customer_texts)
    effective_tone, effective_complaint = effective_labels(classification)
    severity = score_severity(playbook.severity, effective_tone, effective_complaint, repeat, stake.high_value, churn)
    why.append(f"Severity {severity.level}: " + "; ".join(severity.reasons) + ".")
    if tone.unsure:
        why.append(f"Unsure of the tone ({tone.label} at {tone.confidence:.0%}): the apology stays general.")
    if complaint.unsure:
        why.append(
            f"Unsure of the complaint type ({complaint.label} at {complaint.confidence:.0%}): ask an open question first."
        )

    path = message_path(text, classification)
    threat = path == "abusive" and mentions_threat([text])  # the list is read again only on the rare abusive path
    if threat:
        why.append("Threat of harm: do not apologise or offer anything; set a calm boundary and escalate now.")
    if path == "abusive":
        if not threat:
            why.append("Abusive language: set a calm boundary, escalate if it continues, and offer no reward for abuse.")
        return RecoveryPlan(
            language=lang,
            tone=tone,
            complaint=complaint,
            severity=severity.level,
            apology=playbook.abusive.boundary.get(lang).format(company=playbook.company, issue="", days=""),
            question=None,
            compensation=None,
            follow_up=[FollowUpItem(when=s.when, action=s.action) for s in playbook.abusive.steps],
            why=why,
            abusive=True,
            churn_risk=churn,
            value_at_stake=stake,
            details_found=details,
            product=named[0] if named else None,
            customer_memory=memory,
        )

    nothing_to_fix = path == "nothing_to_fix"
    fmt = {"company": playbook.company, "issue": playbook.issue_phrases[effective_complaint].get(lang), "days": ""}
    if nothing_to_fix:
        apology = playbook.acknowledgement.get(lang).format(**fmt)
        why.append("Not a complaint: acknowledge and help; nothing to compensate.")
    else:
        apology = playbook.apologies[effective_tone].get(lang).format(**fmt)  # type: ignore[index]
        why.append("Thank first and own the problem: no 'but', no blame on another team or the customer.")

    question = question_detail = None
    if complaint.unsure and complaint.label != "none":
        question = playbook.unsure_question.get(lang)
    else:
        for candidate in playbook.questions[effective_complaint]:
            if candidate.detail in details:
                why.append(f"Not asking for the {candidate.detail.replace('_', ' ')}: the customer already gave it ({details[candidate.detail]}).")
                continue
            question, question_detail = candidate.text.get(lang), candidate.detail
            break

    compensation = above = None
    if not nothing_to_fix and not complaint.unsure:
        cap = stake.lifetime_margin * playbook.customer_value.max_offer_share
        compensation, above = choose_compensation(
            playbook.compensation.get(effective_complaint, []), severity.level, cap, agent_role, lang, playbook.company
        )
        if compensation is not None:
            verb = "needs approval from a " + compensation.authority if compensation.needs_approval else "is yours to give now"
            why.append(f"Offer '{compensation.offer}' ({compensation.value:g} {compensation.currency}) {verb}.")
        if above is not None:
            why.append(f"A {above.authority} could approve more: '{above.offer}' ({above.value:g} {above.currency}).")
    if churn and not nothing_to_fix:
        why.append(
            f"The customer says they may leave: about {stake.lifetime_revenue:,.0f} {stake.currency} of lifetime revenue "
            f"({stake.lifetime_margin:,.0f} margin) is at stake. Treat it as a retention case: fix it now, in full."
        )
    elif stake.high_value:
        why.append(
            f"Losing this customer would cost about {stake.lifetime_revenue:,.0f} {stake.currency} in revenue "
            f"({stake.lifetime_margin:,.0f} in margin; value from the {stake.value_source})."
        )

    steps = list(playbook.follow_up.default) + list(playbook.follow_up.by_complaint.get(effective_complaint, []))
    follow_up = [] if nothing_to_fix else [FollowUpItem(when=s.when, action=s.action) for s in steps]
    return RecoveryPlan(
        language=lang,
        tone=tone,
        complaint=complaint,
        severity=severity.level,
        apology=apology,
        question=question,
        question_detail=question_detail,
        compensation=compensation,
        compensation_above=above,
        follow_up=follow_up,
        why=why,
        churn_risk=churn,
        value_at_stake=stake,
        details_found=details,
        product=named[0] if named else None,
        customer_memory=memory,
    )
