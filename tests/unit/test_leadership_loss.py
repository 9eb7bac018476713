"""A leader that loses its lease around its own guarded work (issue 5's known gap).

Juju promises a unit whose is-leader said true leadership for 30 s; past that
(or in a controller fault) a new leader can be elected while the old one is
still in a hook. The grants live in the application databag, which commits
with the hook, and Juju refuses the whole commit of a hook that wrote it if
the unit no longer leads. So a leader's own guarded work waits for the hook
after the one that granted it the lock: by then the grant is committed, and
a new leader keeps it until its holder says (in ``coordinator-released``)
that it let go.
"""

import json
import time

import pytest

from conftest import ToolError


def acquire(lock):
    import charms.coordinator

    return charms.coordinator.acquire(lock)


def test_the_leaders_own_work_starts_only_once_its_grant_is_committed(model):
    seen = {}

    def handler():
        granted = acquire("restart")
        seen["committed grants"] = json.loads(model.app_data.get("coordinator") or "{}")
        return granted

    assert model.run("app/0", "config-changed", handler=handler).result is False
    assert seen["committed grants"] == {}  # so no guarded work in this hook
    assert list(model.grants()) == ["app/0"]  # committed with it

    assert model.run("app/0", "coordinator-relation-changed", handler=handler).result is True
    assert list(seen["committed grants"]) == ["app/0"]
    assert model.grants() == {}  # released at the end of the hook


def test_a_leader_asks_again_before_writing_once_juju_no_longer_promises_it_leads(
    model, monkeypatch
):
    def handler():
        model.leader = "app/1"  # the lease lapsed during this long hook
        later = time.time() + 25  # Juju promises leadership for 30 s; the layer trusts 20
        monkeypatch.setattr(time, "time", lambda: later)
        return acquire("restart")

    assert model.run("app/0", "config-changed", handler=handler).result is False

    assert model.grants() == {}
    assert list(model.requests_of("app/0")) == ["restart"]  # it waits like anyone
    assert (
        "leadership lost during the hook; the new leader will decide grants"
        in (model.messages("app/0")[-1])
    )


def test_within_juju_promise_the_leader_writes_without_asking_again(model):
    model.calls.clear()
    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))

    assert [c for c in model.calls if c[1] == "is-leader"] == [("app/0", "is-leader", ())]
    assert list(model.grants()) == ["app/0"]


def test_a_lease_lost_inside_juju_promise_fails_the_hook_and_commits_nothing(model):
    # A controller fault, beyond what Juju promises: Juju refuses the write.
    def handler():
        model.leader = "app/1"
        return acquire("restart")

    with pytest.raises(ToolError, match="cannot write relation settings"):
        model.run("app/0", "config-changed", handler=handler)

    assert model.grants() == {}
    assert model.requests_of("app/0") == {}  # the hook failed: Juju retries it


def test_new_leader_keeps_the_old_leaders_grant_until_it_says_it_released(model):
    model.run("app/0", "update-status")  # the leader's view of its peers is current
    model.run("app/2", handler=lambda: acquire("restart"))  # not seen by the leader yet
    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))  # grants itself
    granted = model.grants()
    request = model.requests_of("app/0")

    # Its next hook does the guarded work; the lease lapses before Juju
    # commits that hook (release and hand-over): the whole commit is refused.
    model.lease_lapses_before_commit = "app/1"
    hook = model.run("app/0", "coordinator-relation-changed", handler=lambda: acquire("restart"))
    assert hook.result is True
    assert hook.commit_refused
    assert model.grants() == granted
    assert model.requests_of("app/0") == request

    model.run("app/1", "leader-elected")
    model.run("app/1", "coordinator-relation-changed", remote="app/2")
    assert list(model.grants()) == ["app/0"]  # app/2 waits: app/0 may still be working

    # Juju retries the failed hook, on a unit that no longer leads. Its
    # records lack the request (the refused hook had released it), so the
    # grant is an orphan: not being leader, it lets it go, says so, and asks
    # afresh, behind app/2 (issue 21: the leader may be ending that grant).
    hook = model.run("app/0", "coordinator-relation-changed", handler=lambda: acquire("restart"))
    assert hook.result is False
    assert not hook.commit_refused
    released = json.loads(model.settings["app/0"]["coordinator-released"])
    assert released == granted["app/0"]
    assert list(model.requests_of("app/0")) == ["restart"]
    model.run("app/1", "coordinator-relation-changed", remote="app/0")
    assert list(model.grants()) == ["app/2"]


def test_non_leader_says_it_released_in_the_same_write_as_its_request(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    granted_ts = model.grants()["app/1"]["restart"]

    model.run("app/1", "coordinator-relation-changed")

    writes = [args for u, tool, args in model.calls if u == "app/1" and tool == "relation-set"]
    assert model.requests_of("app/1") == {}
    assert json.loads(model.settings["app/1"]["coordinator-released"]) == {"restart": granted_ts}
    assert len(writes) == 2  # the request, then the release (one write each)


def test_grant_of_a_unit_that_asks_again_with_a_new_timestamp_is_dropped(model):
    old, new = "2026-01-01 00:00:00.000000Z", "2026-01-01 00:05:00.000000Z"
    model.app_data["coordinator"] = json.dumps({"app/1": {"restart": old}})
    model.settings["app/1"]["coordinator"] = json.dumps({"restart": new})  # asked again

    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert model.grants()["app/1"]["restart"] == new


def test_a_minion_asking_for_a_lock_it_holds_unknowingly_asks_afresh(model):
    # A grant its records lack and that it never said it released (see
    # test_failed_hooks.py for how a failed hook leaves one). Only the leader
    # takes such an orphan over: on another unit the leader may be ending it
    # at this moment (issue 21), so the unit lets it go, says so, and asks anew.
    old = "2026-01-01 00:00:00.000000Z"
    model.app_data["coordinator"] = json.dumps({"app/1": {"restart": old}})

    assert model.run("app/1", handler=lambda: acquire("restart")).result is False

    assert model.requests_of("app/1")["restart"] > old
    assert json.loads(model.settings["app/1"]["coordinator-released"]) == {"restart": old}


def test_the_leader_names_a_peer_that_wakes_it_once_its_grant_has_committed(model):
    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))
    waker, token = model.app_data["coordinator-wake"].split(" ", 1)
    assert waker == "app/1"  # the first peer it lists
    assert token == json.loads(model.app_data["coordinator-granted-at"])["app/0"]["restart"]

    # Juju runs relation-changed (no remote unit) on the other units for the
    # leader's change; the named peer answers in its own settings, once.
    model.run("app/2", "coordinator-relation-changed")
    model.run("app/1", "coordinator-relation-changed")
    assert "coordinator-awake" not in model.settings["app/2"]
    assert model.settings["app/1"]["coordinator-awake"] == token
    model.calls.clear()
    model.run("app/1", "update-status")
    assert [c for c in model.calls if c[1] == "relation-set"] == []

    # Its answer runs relation-changed on the leader: the guarded work.
    hook = model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert "coordinator.granted.restart" in hook.flags_in_handler
    assert model.grants() == {}


def test_a_leader_granting_others_names_no_waker(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert list(model.grants()) == ["app/1"]
    assert "coordinator-wake" not in model.app_data


def test_the_waker_is_the_remote_unit_of_the_hook_when_there_is_one(model):
    model.run("app/2", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/2")  # grants app/2
    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))  # waits
    model.run("app/2", "coordinator-relation-changed")  # works, releases

    model.run("app/0", "coordinator-relation-changed", remote="app/2")  # grants itself

    assert list(model.grants()) == ["app/0"]
    assert model.app_data["coordinator-wake"].split(" ", 1)[0] == "app/2"


def test_the_waker_is_a_peer_holding_no_grant_before_one_that_holds(model):
    model.options["class"] = "charmhelpers.coordinator.Serial"
    model.run("app/1", handler=lambda: acquire("other"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # app/1 holds 'other'
    assert list(model.grants()) == ["app/1"]

    model.run("app/0", "update-status", handler=lambda: acquire("restart"))

    assert model.app_data["coordinator-wake"].split(" ", 1)[0] == "app/2"


def test_no_wake_is_named_for_a_grant_released_in_the_hook_that_made_it(model):
    def ask_then_withdraw():
        import charms.coordinator

        charms.coordinator.acquire("restart")
        charms.coordinator.release("restart")

    model.run("app/0", handler=ask_then_withdraw)

    assert model.grants() == {}
    assert "coordinator-wake" not in model.app_data


@pytest.mark.parametrize("why", ["no goal-state", "only dying units"])
def test_a_leader_listing_no_peers_and_knowing_of_no_live_ones_uses_its_grant_at_once(model, why):
    model.not_joined["app/0"] = {"app/1", "app/2"}
    if why == "no goal-state":
        model.goal_state_available = False
    else:
        model.dying.update({"app/1", "app/2"})

    assert model.run("app/0", handler=lambda: acquire("restart")).result is True
    assert model.grants() == {}  # used and released in that hook


def test_garbage_in_the_wake_is_reported_once_per_reader_and_dropped_by_the_leader(model):
    model.app_data["coordinator-wake"] = "app/1 not-a-time"

    model.run("app/1", "coordinator-relation-changed")
    model.run("app/0", "update-status")

    warnings = [(u, m) for u, level, m in model.logs if level == "WARNING"]
    assert [u for u, _ in warnings] == ["app/1", "app/0"]
    assert all("application databag 'coordinator-wake'" in m for _, m in warnings)
    assert "coordinator-wake" not in model.app_data
    assert "coordinator-awake" not in model.settings["app/1"]


def test_a_leader_whose_clock_stepped_back_asks_again_before_writing(model, monkeypatch):
    def handler():
        earlier = time.time() - 60
        monkeypatch.setattr(time, "time", lambda: earlier)
        return acquire("restart")

    model.calls.clear()
    model.run("app/0", "config-changed", handler=handler)

    assert [c[1] for c in model.calls].count("is-leader") == 2
    assert list(model.grants()) == ["app/0"]
