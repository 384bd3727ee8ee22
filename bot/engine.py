"""The recovery engine: classifier + playbook + planner behind one call, shared by CLI, sandbox and Slack."""
from __future__ import annotations

import threading
from functools import cached_property

from bot.classify.backends import load_classifier
from bot.classify.base import BaseClassifier
from bot.coach.models import Classification, CustomerProfile, RecoveryPlan, ThreadMessage
from bot.coach.planner import plan_recovery
from bot.labels import Role
from bot.playbook import Playbook, load_playbook
from bot.settings import Settings


class RecoveryEngine:
    def __init__(self, settings: Settings, classifier: BaseClassifier | None = None, playbook: Playbook | None = None):
        self.settings = settings
        self._classifier = classifier
        self._playbook = playbook
        self._lock = threading.Lock()

    @cached_property
    def classifier(self) -> BaseClassifier:
        if self._classifier is None:
            self._classifier = load_classifier(self.settings)
        return self._classifier

    @property
    def playbook(self) -> Playbook:
        if self._playbook is None:
            self._playbook = load_playbook(self.settings.coach_playbook)
        return self._playbook

    def replace_playbook(self, playbook: Playbook) -> None:
        """Swap in an already-validated playbook; plans in flight keep the one they started with."""
        with self._lock:
            self._playbook = playbook

    def classify(self, text: str) -> Classification:
        return self.classifier.classify(text)

    @property
    def unsure_threshold(self) -> float:
        """The served version's: stored labels below it are read back as unsure, as the model said them."""
        return self.classifier.thresholds.unsure

    def suggest(self, text: str, thread: list[ThreadMessage] | None = None, customer: CustomerProfile | None = None,
                agent_role: Role = "agent", has_files: bool = False,
                classification: Classification | None = None) -> RecoveryPlan:
        classification = classification or self.classify(text)
        return plan_recovery(text, classification, self.playbook, thread, customer, agent_role, has_files)
