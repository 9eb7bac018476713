"""What a hook costs in hook-tool calls, and what bad peer or leader data does."""

import json

import pytest


def acquire(lock):
    import charms.coordinator

    return charms.coordinator.acquire(lock)


def calls(model, unit, tool):
    return [args for u, t, args in model.calls if u == unit and t == tool]


@pytest.fixture
def big(model):
    for n in range(3, 12):
        model.add_unit(f"app/{n}")
    return model


def test_non_leader_never_reads_other_units_relation_data(big):
    big.run("app/1", "coordinator-relation-changed", remote="app/2", handler=lambda: acquire("x"))

    reads = calls(big, "app/1", "relation-get")
    assert {unit for _, unit in reads} == {"app/1"}


def test_non_leader_hook_costs_the_same_for_3_and_12_units(model, big):
    small_calls = []
    for units in (3, 12):
        model.units = [f"app/{n}" for n in range(units)]
        model.run("app/1", "update-status")  # the same copy of its own settings both times
        model.calls.clear()
        model.run("app/1", "coordinator-relation-changed", remote="app/2")
        small_calls.append(len([c for c in model.calls if c[0] == "app/1"]))

    assert small_calls[0] == small_calls[1]


def test_unchanged_hook_writes_nothing(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    model.calls.clear()

    model.run("app/2", "update-status")
    model.run("app/0", "update-status")

    assert calls(model, "app/2", "relation-set") == []
    assert calls(model, "app/0", "relation-set") == []
    assert calls(model, "app/0", "relation-set --app") == []


def test_leader_reads_only_the_remote_unit_in_its_relation_hooks(big):
    big.run("app/0", "update-status")  # first leader hook reads everyone
    big.run("app/5", handler=lambda: acquire("restart"))
    big.calls.clear()

    big.run("app/0", "coordinator-relation-changed", remote="app/5")

    # Its own settings: unitdata's copy from update-status (it wrote nothing since).
    reads = {unit for _, unit in calls(big, "app/0", "relation-get")}
    assert reads == {"app/5"}
    assert list(big.grants()) == ["app/5"]


def test_leader_rereads_everyone_after_upgrade_charm(big):
    big.run("app/0", "update-status")
    big.calls.clear()

    big.run("app/0", "upgrade-charm")

    assert len(calls(big, "app/0", "relation-get")) == len(big.units)


def test_new_leader_reads_everyone(big):
    big.run("app/1", handler=lambda: acquire("restart"))
    big.leader = "app/2"
    big.calls.clear()

    big.run("app/2", "leader-elected")

    assert len(calls(big, "app/2", "relation-get")) == len(big.units)
    assert list(big.grants()) == ["app/1"]


def test_former_leader_forgets_its_view_and_rereads_when_leader_again(model):
    model.run("app/0", "update-status")
    model.leader = "app/1"
    model.run("app/0", "coordinator-relation-changed", remote="app/2")
    model.run("app/2", handler=lambda: acquire("restart"))  # app/0 does not see this
    model.leader = "app/0"  # back without leader-elected (test_quiet_hooks: the regain)

    # Its next hook of the peer relation, for another peer's change.
    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert list(model.grants()) == ["app/2"]


@pytest.mark.parametrize(
    "garbage",
    [
        "not json",
        "[1, 2, 3]",
        '"a string"',
        '{"restart": 5}',
        '{"restart": "yesterday"}',
        '{"": "2026-01-01 00:00:00.000000Z"}',
        json.dumps({f"lock{n}": "x" * 100 for n in range(20000)}),  # megabytes
        "[" * 100000,  # nested past the JSON parser's recursion limit
        '{"restart": ' * 50000 + "1" + "}" * 50000,
    ],
)
def test_leader_ignores_a_peers_garbage_and_keeps_serving_others(model, garbage):
    model.settings["app/2"]["coordinator"] = garbage
    model.run("app/1", handler=lambda: acquire("restart"))

    model.run("app/0", "coordinator-relation-changed", remote="app/2")

    assert list(model.grants()) == ["app/1"]
    warnings = [m for u, level, m in model.logs if u == "app/0" and level == "WARNING"]
    assert len(warnings) == 1
    assert "app/2" in warnings[0]


def test_valid_entries_beside_garbage_entries_are_kept(model):
    model.settings["app/2"]["coordinator"] = json.dumps(
        {"restart": "2026-01-01 00:00:00.000000Z", "bad": 3}
    )

    model.run("app/0", "coordinator-relation-changed", remote="app/2")

    assert list(model.grants()) == ["app/2"]


@pytest.mark.parametrize(
    "garbage", ["{{{", '["x"]', '{"app/1": "restart"}', "[" * 100000, '{"a": ' * 50000]
)
def test_garbage_in_the_databag_is_ignored_and_repaired_by_the_leader(model, garbage):
    model.app_data["coordinator"] = garbage
    model.run("app/1", handler=lambda: acquire("restart"))

    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert list(model.grants()) == ["app/1"]
    warnings = [m for u, level, m in model.logs if level == "WARNING"]
    assert warnings
    assert all("application databag 'coordinator'" in m for m in warnings)


@pytest.mark.parametrize(
    "garbage", ["{{{", '["x"]', '{"app/1": "restart"}', '{"app/1": {"restart": 5}}']
)
def test_leader_repairs_garbage_in_the_databag_even_with_nothing_to_grant(model, garbage):
    model.app_data["coordinator"] = garbage

    model.run("app/0", "update-status")  # nobody asks for anything

    assert model.app_data["coordinator"] == "{}"
    model.logs.clear()
    model.run("app/0", "update-status")
    model.run("app/1", "update-status")
    assert [level for _, level, _ in model.logs if level == "WARNING"] == []


@pytest.mark.parametrize(
    "valid",
    [
        # charmhelpers' own formatting (json.dumps without sort_keys), and a
        # unit left with no locks: valid data, not rewritten just to reformat.
        '{"app/1": {"restart": "2026-01-01 00:00:00.000000Z", '
        '"b": "2026-01-01 00:00:01.000000Z"}}',
        '{"app/2": {}}',
    ],
)
def test_leader_does_not_rewrite_valid_grants_written_differently(model, valid):
    model.app_data["coordinator"] = valid
    if "app/1" in valid:
        model.settings["app/1"]["coordinator"] = json.dumps(json.loads(valid)["app/1"])

    model.run("app/0", "update-status")

    assert model.app_data["coordinator"] == valid
    written = [args[0] for args in calls(model, "app/0", "relation-set --app")]
    assert [w for w in written if "coordinator" in w] == []


def test_a_databag_juju_refuses_to_read_stops_nothing_for_good(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # grants app/1
    model.run("app/2", handler=lambda: acquire("restart"))
    model.app_unreadable = True
    model.calls.clear()

    holder = model.run("app/1", "coordinator-relation-changed")
    leader = model.run("app/0", "coordinator-relation-changed", remote="app/2")

    # Neither used nor changed a grant it could not see; each said why.
    assert "coordinator.granted.restart" not in holder.flags_in_handler
    assert list(model.requests_of("app/1")) == ["restart"]
    assert list(model.grants()) == ["app/1"]
    assert calls(model, "app/0", "relation-set --app") == []
    for unit in ("app/0", "app/1"):
        (warning,) = [m for u, level, m in model.logs if u == unit and level == "WARNING"]
        assert warning.startswith("coordinator: cannot read the application databag (")
    assert leader.commit_refused is False

    model.app_unreadable = False
    holder = model.run("app/1", "coordinator-relation-changed")  # works and releases
    assert "coordinator.granted.restart" in holder.flags_in_handler
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert list(model.grants()) == ["app/2"]


def test_a_leader_deposed_before_its_hook_commits_loses_nothing_a_peer_asked_for(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.lease_lapses_before_commit = "app/2"

    hook = model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert hook.commit_refused  # it granted app/1; Juju refused the whole commit
    assert model.grants() == {}
    assert list(model.requests_of("app/1")) == ["restart"]
    model.run("app/2", "leader-elected")
    assert list(model.grants()) == ["app/1"]


def test_grants_for_units_that_no_longer_exist_are_revoked(model):
    model.app_data["coordinator"] = json.dumps(
        {"app/9": {"restart": "2026-01-01 00:00:00.000000Z"}}
    )
    model.run("app/1", handler=lambda: acquire("restart"))

    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert list(model.grants()) == ["app/1"]


def test_request_made_while_own_settings_are_unreadable_is_kept_and_published(model):
    model.unreadable.add("app/1")  # as in relation-created, before entering scope

    assert (
        model.run("app/1", "coordinator-relation-created", handler=lambda: acquire("x")).result
        is False
    )

    assert model.requests_of("app/1") == {}
    model.unreadable.clear()
    model.run("app/1", "coordinator-relation-joined", remote="app/2")
    assert list(model.requests_of("app/1")) == ["x"]


def test_peer_that_vanished_between_list_and_get_is_skipped(model):
    original = model.units[:]
    model.run("app/1", handler=lambda: acquire("restart"))
    model.settings.pop("app/2")  # relation-get for app/2 now fails

    model.run("app/0", "update-status")

    assert model.units == original
    assert list(model.grants()) == ["app/1"]


def test_unreadable_holder_keeps_its_grant_and_is_reread_next_hook(model):
    model.run("app/2", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/2")
    assert list(model.grants()) == ["app/2"]
    saved = model.settings.pop("app/2")  # relation-get for app/2 fails for a while

    model.run("app/0", "upgrade-charm")  # a full read that cannot read app/2
    assert list(model.grants()) == ["app/2"]

    model.settings["app/2"] = saved
    model.calls.clear()
    model.run("app/0", "update-status")
    assert ("app/0", "relation-get", (None, "app/2")) in model.calls


def test_a_databag_read_that_gives_no_json_is_not_taken_for_an_empty_one(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # grants app/1
    model.run("app/2", handler=lambda: acquire("restart"))
    model.app_read_gives_none = True

    model.run("app/0", "coordinator-relation-changed", remote="app/2")

    assert list(model.grants()) == ["app/1"]  # not handed to app/2 while app/1 may work
    (warning,) = [m for u, level, m in model.logs if u == "app/0" and level == "WARNING"]
    assert "cannot read the application databag (relation-get gave None)" in warning
