"""Per-workspace configuration on the database: overrides, revisions, playbook versions per workspace."""
from __future__ import annotations

import pytest

from bot.storage.workspace_config import WorkspaceConfig


def test_a_workspace_without_a_row_has_no_config(store):
    assert store.workspace_configs.get("TA") is None
    assert store.workspace_configs.revision("TA") is None


def test_roles_and_channel_override_only_what_was_set_and_bump_the_revision(store):
    configs = store.workspace_configs
    assert configs.set_roles("TA", "admins", ["UADMIN", "UADMIN", "UTWO"], by="UADMIN") == 1
    assert configs.set_coach_channel("TA", "CCOACH", by="UADMIN") == 2
    config = configs.get("TA")
    assert config.revision == 2 and config.updated_by == "UADMIN"
    assert config.roles["admins"] == ["UADMIN", "UTWO"] and config.roles["supervisors"] is None
    assert config.overrides() == {"coach_admins": ["UADMIN", "UTWO"], "coach_coach_channel": "CCOACH"}
    assert configs.get("TB") is None  # another workspace is untouched
    configs.set_roles("TA", "admins", None, by="UADMIN")  # back to the default
    configs.set_coach_channel("TA", "", by="UADMIN")       # explicitly none
    assert configs.get("TA").overrides() == {"coach_coach_channel": None}
    with pytest.raises(ValueError):
        configs.set_roles("TA", "owners", ["U1"], by="UADMIN")


def test_playbook_versions_are_per_workspace(store, make_store):
    configs = store.workspace_configs
    first = configs.save_playbook("TA", "company: A\n", "UADMIN", "first")
    second = configs.save_playbook("TA", "company: A2\n", "UADMIN")
    other = configs.save_playbook("TB", "company: B\n", "UB")
    assert (first.version, second.version, other.version) == (1, 2, 1)
    restarted = make_store().workspace_configs  # another worker reads the same
    assert restarted.get("TA").playbook.yaml_text == "company: A2\n"
    assert restarted.get("TB").playbook.yaml_text == "company: B\n"
    assert [v.version for v in restarted.playbook_history("TA")] == [2, 1]
    assert restarted.playbook_version("TA", 1).note == "first" and restarted.playbook_version("TB", 2) is None
    revision = restarted.revision("TA")
    configs.use_default_playbook("TA", "UADMIN")
    assert restarted.get("TA").playbook is None and restarted.revision("TA") == revision + 1
    assert WorkspaceConfig("TC").overrides() == {}
