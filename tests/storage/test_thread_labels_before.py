"""thread_labels_before: the stored labels of a thread's earlier customer messages, for the live thread rule."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.storage.helpers import CHANNEL, WORKSPACE, message, plan_for, classification, record

T0 = datetime(2026, 3, 18, 13, 30, tzinfo=timezone.utc)


def test_earlier_messages_oldest_first_with_corrections_as_sure_and_deleted_left_out(store, book):
    incident = record(store, book, "700.1", "700.1", "angry", "billing", at=T0)
    record(store, book, "700.1", "700.2", "neutral", "none", at=T0 + timedelta(minutes=1))
    record(store, book, "700.1", "700.3", "frustrated", "delivery", at=T0 + timedelta(minutes=2))
    record(store, book, "700.1", "700.5", "neutral", "none", at=T0 + timedelta(minutes=4))  # after: not read
    record(store, book, "799.1", "799.1", "angry", "refund", at=T0)  # another thread
    store.record_correction(incident, "700.2", None, "refund", "U0LEAD")
    store.redact_deleted_message(WORKSPACE, CHANNEL, "700.3")
    found = store.thread_labels_before(WORKSPACE, CHANNEL, "700.1", "700.4")
    assert [f.message_ts for f in found] == ["700.1", "700.2"]
    first, second = (f.classification(unsure_below=0.95) for f in found)
    assert (first.complaint.label, first.complaint.unsure, first.tone.label) == ("billing", True, "angry")  # 0.9 < 0.95
    assert (second.complaint.label, second.complaint.confidence, second.complaint.unsure) == ("refund", 1.0, False)
    assert second.tone.unsure  # the model's own tone, below the threshold
    assert store.thread_labels_before(WORKSPACE, CHANNEL, "700.1", "700.1") == []
    assert store.thread_labels_before(WORKSPACE, CHANNEL, "no-thread", "9.9") == []
    # inclusive: the planned message's own stored labels too (the thread plans read them, corrections first)
    assert [f.message_ts for f in store.thread_labels_before(WORKSPACE, CHANNEL, "700.1", "700.2", inclusive=True)] == [
        "700.1", "700.2"]
    assert [f.message_ts for f in store.thread_labels_before(WORKSPACE, CHANNEL, "700.1", "700.3", inclusive=True)] == [
        "700.1", "700.2"]  # 700.3 was deleted


def test_a_message_recorded_with_a_low_confidence_stays_unsure(store, book):
    cls = classification("angry", "billing", confidence=0.3)
    store.record_customer_message(message("710.1", at=T0), cls, plan_for("x", cls, book), ["U0AGENT1"])
    (only,) = store.thread_labels_before(WORKSPACE, CHANNEL, "710.1", "710.2")
    assert only.classification(unsure_below=0.45).complaint.unsure
