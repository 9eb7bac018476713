"""acquire(), the coordinator.* flags and the one-hook grant lifetime (behaviours 1-3, 8-10)."""

import json

import pytest
from charms.reactive import is_flag_set, set_flag

from conftest import unit_flags, unit_memory


def acquire(lock):
    import charms.coordinator

    return charms.coordinator.acquire(lock)


def _acquire_and_flags(lock="restart"):
    return (
        acquire(lock),
        is_flag_set(f"coordinator.granted.{lock}"),
        is_flag_set(f"coordinator.requested.{lock}"),
    )


def test_the_leaders_own_grant_is_committed_first_and_used_in_its_next_hook(model):
    hook = model.run("app/0", handler=_acquire_and_flags)

    assert hook.result == (False, False, True)  # granted, but not usable in this hook
    assert list(model.grants()) == ["app/0"]  # committed with the hook
    assert unit_flags(model, "app/0") == {"coordinator.requested.restart"}

    # A hook after the commit: here the one the named peer's answer (the wake) gives it.
    hook = model.run("app/0", "coordinator-relation-changed", handler=_acquire_and_flags)

    assert hook.result == (True, True, False)
    assert model.grants() == {}  # released at the end of that hook
    assert model.requests_of("app/0") == {}
    assert unit_flags(model, "app/0") == set()


def test_non_leader_acquire_waits_and_sets_requested_flag(model):
    def handler():
        return acquire("restart"), is_flag_set("coordinator.requested.restart")

    hook = model.run("app/1", handler=handler)

    assert hook.result == (False, True)
    assert unit_flags(model, "app/1") == {"coordinator.requested.restart"}
    assert list(model.requests_of("app/1")) == ["restart"]


def test_repeated_acquire_keeps_the_original_timestamp_across_hooks(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    first = model.requests_of("app/1")["restart"]

    model.run("app/1", handler=lambda: (acquire("restart"), acquire("restart")))

    assert model.requests_of("app/1")["restart"] == first


def test_grant_seen_at_hook_start_sets_granted_and_clears_requested(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # leader grants

    hook = model.run("app/1", "coordinator-relation-changed")

    assert "coordinator.granted.restart" in hook.flags_in_handler
    assert "coordinator.requested.restart" not in hook.flags_in_handler


def test_grant_is_released_and_flag_cleared_at_end_of_hook(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    model.run("app/1", "coordinator-relation-changed")

    assert unit_flags(model, "app/1") == set()
    assert model.requests_of("app/1") == {}


def test_waiting_request_keeps_requested_flag_after_hook(model):
    model.run("app/0", handler=lambda: acquire("restart"))  # leader holds, then releases
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/2", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    hook = model.run("app/2", "coordinator-relation-changed")

    assert "coordinator.requested.restart" in hook.flags_in_handler
    assert unit_flags(model, "app/2") == {"coordinator.requested.restart"}


def test_stale_coordinator_flags_are_cleared_at_hook_start(model):
    model.run("app/1", handler=lambda: set_flag("coordinator.requested.gone"))

    hook = model.run("app/1")

    assert "coordinator.requested.gone" not in hook.flags_in_handler


def test_granted_flag_never_survives_a_hook_even_if_set_by_charm(model):
    model.run("app/1", handler=lambda: set_flag("coordinator.granted.restart"))

    assert unit_flags(model, "app/1") == set()


def test_failed_hook_loses_its_request_like_juju_loses_its_relation_data(model):
    def failing_hook():
        with model.hook("app/1", "config-changed"):
            acquire("restart")
            raise RuntimeError("charm bug")

    with pytest.raises(RuntimeError):
        failing_hook()

    assert model.requests_of("app/1") == {}
    assert unit_flags(model, "app/1") == set()


def test_lock_names_with_dots_map_to_flag_suffix(model):
    def handler():
        acquire("db.restart")
        return is_flag_set("coordinator.granted.db.restart")

    assert model.run("app/0", handler=handler).result is False
    assert model.run("app/0", handler=handler).result is True


@pytest.mark.parametrize("bad", ["", None, 3, b"restart"])
def test_empty_or_non_string_lock_name_raises_value_error(model, bad):
    with model.hook("app/1"):
        with pytest.raises(ValueError, match="lock name"):
            acquire(bad)


@pytest.mark.parametrize("lock", ["with space", "ünïcødé", "x" * 1000, "a.b.c"])
def test_odd_lock_names_round_trip(model, lock):
    model.run("app/1", handler=lambda: acquire(lock))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    hook = model.run("app/1", "coordinator-relation-changed")

    assert f"coordinator.granted.{lock}" in hook.flags_in_handler


def test_coordinator_is_a_singleton(model):
    with model.hook("app/1"):
        import charms.coordinator

        assert charms.coordinator.coordinator is charms.coordinator.coordinator


def test_late_import_inside_handler_still_acquires_and_releases(model):
    import sys

    model.run("app/0", handler=lambda: acquire("restart"))  # granted for the next hook
    with model.hook("app/0"):
        # Simulate a module imported only now, after the start callbacks ran.
        sys.modules.pop("charms.coordinator", None)
        import charms.coordinator

        assert charms.coordinator.acquire("restart") is True
        assert is_flag_set("coordinator.granted.restart")

    assert model.grants() == {}  # released at the end of the hook
    assert unit_flags(model, "app/0") == set()


def test_a_leader_alone_in_the_application_uses_its_grant_at_once(tmp_path, model):
    # No other unit can lead while it works, so nothing waits for the commit.
    model.units = ["app/0"]
    model.settings = {"app/0": {}}

    assert model.run("app/0", handler=_acquire_and_flags).result == (True, True, False)
    assert model.grants() == {}  # released at the end of the hook


def test_a_leader_listing_no_peers_while_goal_state_names_some_waits_for_the_commit(model):
    model.not_joined["app/0"] = {"app/1", "app/2"}  # they exist; not joined yet

    assert model.run("app/0", handler=_acquire_and_flags).result == (False, False, True)
    assert list(model.grants()) == ["app/0"]
    assert "coordinator-wake" not in model.app_data  # its joined hooks come next


def test_request_made_before_relation_exists_is_published_when_it_appears(model):
    model.relation = False
    model.run("app/1", "install", handler=lambda: acquire("restart"))
    assert model.requests_of("app/1") == {}

    model.relation = True
    model.run("app/1", "coordinator-relation-created")

    assert list(model.requests_of("app/1")) == ["restart"]


def test_a_leader_without_the_relation_grants_itself_once_the_relation_exists(model):
    model.relation = False

    assert model.run("app/0", "install", handler=_acquire_and_flags).result == (
        False,
        False,
        True,
    )
    assert model.grants() == {}  # nowhere to keep a grant yet

    model.relation = True
    model.run("app/0", "coordinator-relation-created")
    assert list(model.grants()) == ["app/0"]
    # Its grant stands for its request: unitdata keeps the request, no peer hears of it.
    assert model.requests_of("app/0") == {}
    assert list(unit_memory(model, "app/0", "coordinator.local-requests")) == ["restart"]

    hook = model.run("app/0", "coordinator-relation-changed", handler=_acquire_and_flags)
    assert hook.result == (True, True, False)


def test_requests_and_grants_are_readable_by_charm_code(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/2", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    model.run("app/0", "coordinator-relation-changed", remote="app/2")

    def handler():
        import charms.coordinator

        c = charms.coordinator.coordinator
        return sorted(c.requests), {u: sorted(locks) for u, locks in c.grants.items()}

    requests, grants = model.run("app/2", handler=handler).result

    assert requests == ["app/0", "app/1", "app/2"]
    assert grants == {"app/1": ["restart"]}


def test_wire_format_is_charmhelpers_compatible(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    request_ts = json.loads(model.settings["app/1"]["coordinator"])["restart"]
    assert model.grants() == {"app/1": {"restart": request_ts}}
