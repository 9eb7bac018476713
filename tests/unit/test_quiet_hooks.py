"""Quiet hooks (issue 23): an idle non-leader reads nothing in a hook that brings no news.

The memo (unitdata ``coordinator.quiet``) is left by a full hook that ended
with the unit idle, as a non-leader, having written nothing; a later hook
that cannot carry coordination news trusts it for QUIET_FOR seconds. Each
safety rule of charms.layer_coordinator.quiet has a case here: a unit with a
request or a held lock reads as before, news hooks always read, a revocation
reaches a holder, a unit that gains leadership grants, and a memo that is
missing, garbage, expired or stale loses nothing.
"""

import json
import time

import pytest

from conftest import _stored as stored
from conftest import on_juju, unit_flags, unit_memory

MEMO = "coordinator.quiet"


def acquire(lock, hold=False):
    import charms.coordinator

    return charms.coordinator.acquire(lock, hold=hold)


def release(lock):
    import charms.coordinator

    return charms.coordinator.release(lock)


def layer_calls(model, unit):
    return [(tool, args) for u, tool, args in model.calls if u == unit and tool != "juju-log"]


def set_memory(model, unit, key, value):
    def write(store):
        store.set(key, value)
        store.flush()

    stored(model, unit, write)


def quiet_hook(model, unit, name="update-status", **kwargs):
    """Run a hook on ``unit``; return the hook-tool calls the layer made in it."""
    model.calls.clear()
    hook = model.run(unit, name, **kwargs)
    return hook, layer_calls(model, unit)


@pytest.fixture(autouse=True, params=["4", "3.6"])
def juju(model, request):
    """Every case on Juju 4 (the fake's default) and on 3.6, where leader settings exist
    (the leader reads them for an older layer's grants; non-leaders never do)."""
    on_juju(model, request.param)
    return request.param


@pytest.fixture
def idle(model):
    """Three units; app/1, a non-leader, has run one full idle hook."""
    model.add_unit("app/1")
    model.add_unit("app/2")
    model.run("app/0", "update-status")
    model.run("app/1", "update-status")
    assert unit_memory(model, "app/1", MEMO) is not None
    return model


def test_only_the_leader_reads_leader_settings_and_only_where_they_exist(model, juju):
    model.add_unit("app/1")
    model.add_unit("app/2")
    model.calls.clear()
    model.run("app/0", "leader-elected")
    for unit in ("app/1", "app/2"):
        model.run(unit, "update-status")
        model.run(unit, "leader-settings-changed")

    readers = {unit for unit, tool, _ in model.calls if tool == "leader-get"}
    assert readers == ({"app/0"} if juju == "3.6" else set())


def test_the_first_hook_reads_and_leaves_the_memo(model):
    model.add_unit("app/1")

    hook, calls = quiet_hook(model, "app/1")

    assert {"relation-ids", "is-leader"} <= {tool for tool, _ in calls}
    assert unit_memory(model, "app/1", MEMO)["version"] == 1


def test_an_idle_non_leader_makes_no_call_in_a_quiet_hook(idle):
    for name in ("update-status", "config-changed", "website-relation-changed"):
        _, calls = quiet_hook(idle, "app/1", name)
        assert calls == [], name


@pytest.mark.parametrize(
    ("name", "remote"),
    [
        ("coordinator-relation-changed", "app/2"),
        ("coordinator-relation-changed", None),  # the application databag changed
        ("coordinator-relation-departed", "app/2"),
        ("leader-elected", None),
        ("leader-settings-changed", None),
        ("upgrade-charm", None),
        ("install", None),
        ("start", None),
    ],
)
def test_a_hook_that_can_bring_news_reads_whatever_the_memo(idle, name, remote):
    _, calls = quiet_hook(idle, "app/1", name, remote=remote)

    assert ("is-leader", ()) in calls


def test_an_action_is_never_quiet(idle, monkeypatch):
    monkeypatch.setenv("JUJU_ACTION_NAME", "do-something")

    _, calls = quiet_hook(idle, "app/1")

    assert ("is-leader", ()) in calls


def test_the_leader_reads_in_every_hook(idle):
    _, calls = quiet_hook(idle, "app/0")

    assert ("is-leader", ()) in calls
    assert unit_memory(idle, "app/0", MEMO) is None


def test_a_unit_waiting_for_a_lock_reads_in_every_hook(idle):
    idle.run("app/0", handler=lambda: acquire("restart"))  # the leader takes it first
    idle.run("app/1", handler=lambda: acquire("restart"))

    hook, calls = quiet_hook(idle, "app/1")

    assert ("is-leader", ()) in calls
    assert "coordinator.requested.restart" in hook.flags_in_handler
    assert unit_memory(idle, "app/1", MEMO) is None


def test_a_held_lock_is_read_and_its_revocation_seen_in_the_holders_next_hook(idle):
    idle.run("app/1", handler=lambda: acquire("restart", hold=True))
    idle.run("app/0", "coordinator-relation-changed", remote="app/1")  # granted
    hook = idle.run("app/1", "coordinator-relation-changed")
    assert "coordinator.granted.restart" in hook.flags_in_handler
    results, failed = idle.action("app/0", "coordinator-release", unit="app/1", lock="restart")
    assert failed is None, results

    hook, calls = quiet_hook(idle, "app/1")  # not the databag's news: its update-status

    assert ("is-leader", ()) in calls
    assert "coordinator.granted.restart" not in hook.flags_in_handler
    assert "coordinator.granted.restart" not in unit_flags(idle, "app/1")


def test_charm_code_in_a_quiet_hook_starts_the_coordinator(idle):
    hook, calls = quiet_hook(idle, "app/1", handler=lambda: acquire("restart"))

    assert hook.result is False
    assert ("is-leader", ()) in calls
    assert "restart" in idle.requests_of("app/1")
    assert unit_memory(idle, "app/1", MEMO) is None


def test_the_coordinators_state_read_in_a_quiet_hook_is_loaded(idle):
    idle.run("app/2", handler=lambda: acquire("restart"))
    idle.run("app/0", "coordinator-relation-changed", remote="app/2")  # granted to app/2

    def grants():
        import charms.coordinator

        return charms.coordinator.coordinator.grants

    hook, _ = quiet_hook(idle, "app/1", handler=grants)

    assert list(hook.result) == ["app/2"]


def test_a_unit_that_became_leader_during_a_quiet_hook_grants_in_leader_elected(idle):
    idle.run("app/2", handler=lambda: acquire("restart"))  # the old leader never sees it

    def lease_moves():
        idle.leader = "app/1"

    _, calls = quiet_hook(idle, "app/1", handler=lease_moves)
    assert calls == []
    assert idle.grants() == {}

    idle.run("app/1", "leader-elected")

    assert list(idle.grants()) == ["app/2"]


def test_leadership_regained_without_leader_elected_grants_once_the_memo_expires(idle):
    idle.run("app/2", handler=lambda: acquire("restart"))
    idle.leader = "app/1"  # no leader-elected: see quiet.py, the age limit
    _, calls = quiet_hook(idle, "app/1")
    assert calls == []
    assert idle.grants() == {}
    memo = unit_memory(idle, "app/1", MEMO)
    set_memory(idle, "app/1", MEMO, dict(memo, since=time.time() - 3601))

    _, calls = quiet_hook(idle, "app/1")

    assert ("is-leader", ()) in calls
    assert list(idle.grants()) == ["app/2"]


@pytest.mark.parametrize(
    "memo",
    [
        "garbage",
        {"version": 1},
        {"version": 0, "since": "now"},  # another layer version's
        {"version": 2, "since": "now"},
        {"version": True, "since": "now"},
        {"version": 1.0, "since": "now"},
        {"version": 1, "since": "yesterday"},
        {"version": 1, "since": "ahead"},  # the clock stepped back
        {"version": 1, "since": "expired"},
        {"version": 1, "since": "now", "extra": True},
    ],
)
def test_a_memo_that_is_garbage_or_not_this_layers_is_not_trusted_and_is_rewritten(idle, memo):
    times = {"now": time.time(), "ahead": time.time() + 600, "expired": time.time() - 3601}
    if isinstance(memo, dict) and memo.get("since") in times:
        memo = dict(memo, since=times[memo["since"]])
    set_memory(idle, "app/1", MEMO, memo)

    _, calls = quiet_hook(idle, "app/1")

    assert ("is-leader", ()) in calls
    rewritten = unit_memory(idle, "app/1", MEMO)
    assert rewritten["version"] == 1
    assert 0 <= time.time() - rewritten["since"] < 60


def test_a_missing_memo_after_upgrade_charm_means_a_full_hook(idle):
    set_memory(idle, "app/1", MEMO, None)
    idle.run("app/1", "upgrade-charm")
    assert unit_memory(idle, "app/1", MEMO) is not None

    _, calls = quiet_hook(idle, "app/1")

    assert calls == []


def test_a_hook_that_writes_leaves_no_memo_so_the_next_one_reads_what_juju_committed(idle):
    idle.run("app/1", handler=lambda: acquire("restart"))
    idle.run("app/1", handler=lambda: release("restart"))  # withdrawn: written
    assert unit_memory(idle, "app/1", MEMO) is None

    _, calls = quiet_hook(idle, "app/1")

    assert ("is-leader", ()) in calls
    assert unit_memory(idle, "app/1", MEMO) is not None


def test_a_failed_hook_leaves_the_memo_and_its_request_unwritten(idle):
    hook = idle.hook("app/1")

    def failing_hook():
        with hook:
            acquire("restart")
            raise RuntimeError("the charm's handler failed")

    with pytest.raises(RuntimeError):
        failing_hook()
    assert hook.flags_in_handler is None
    assert idle.requests_of("app/1") == {}  # Juju committed nothing
    assert unit_memory(idle, "app/1", MEMO) is not None  # nor did charms.reactive save

    # Retried, the hook is quiet again until its handler asks again.
    hook, calls = quiet_hook(idle, "app/1")
    assert calls == []
    hook, calls = quiet_hook(idle, "app/1", handler=lambda: acquire("restart"))

    assert ("is-leader", ()) in calls
    assert "restart" in idle.requests_of("app/1")


def test_a_stale_memo_beside_a_published_request_loses_nothing(idle):
    """A memo that does not match the relation data (written by hand, say) delays
    nothing that matters: the grant arrives with the databag's news, a full hook."""
    idle.run("app/1", handler=lambda: acquire("restart"))
    set_memory(idle, "app/1", MEMO, {"version": 1, "since": time.time()})
    assert "restart" in idle.requests_of("app/1")

    hook, calls = quiet_hook(idle, "app/1")
    assert calls == []
    assert "coordinator.requested.restart" not in hook.flags_in_handler
    idle.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert list(idle.grants()) == ["app/1"]

    hook = idle.run("app/1", "coordinator-relation-changed")

    assert "coordinator.granted.restart" in hook.flags_in_handler
    assert json.loads(idle.settings["app/1"]["coordinator"]) == {}


def test_coordinator_flags_left_set_are_cleared_in_a_quiet_hook(idle):
    # Left by hand (or by a layer revision that kept them): a quiet hook shows
    # no request and no grant, as the memo says.
    for flag in ("coordinator.granted.restart", "coordinator.requested.other"):
        set_memory(idle, "app/1", "reactive.states." + flag, None)

    hook, calls = quiet_hook(idle, "app/1")

    assert calls == []
    assert not {f for f in hook.flags_in_handler if f.startswith("coordinator.")}
    assert not {f for f in unit_flags(idle, "app/1") if f.startswith("coordinator.")}


# -- each condition of an idle unit, on its own ------------------------------------


def _coordinator():
    import charms.coordinator

    c = charms.coordinator.coordinator
    assert c.started
    return c


def _set_unitdata(key, value):
    from charmhelpers.core import unitdata

    unitdata.kv().set(key, value)


# Each changes one thing a full hook ends with; every one of them must keep the
# next hook from being quiet. The unit is app/1, a non-leader with nothing else.
NOT_IDLE = {
    "it wrote relation data": lambda c: setattr(c._transport, "wrote", True),
    "is-leader said true": lambda c: setattr(c, "_is_leader", True),
    "the databag was unreadable": lambda c: setattr(c, "_readable", False),
    "its own settings were unreadable": lambda c: setattr(c._own, "on_relation", False),
    "requests wait in unitdata": lambda c: _set_unitdata(
        "coordinator.local-requests", {"restart": "2026-01-01 00:00:00.000000Z"}
    ),
    "a waiting status is shown": lambda c: _set_unitdata(
        "coordinator.status", {"prior": ["active", ""], "ours": ["waiting", "x"]}
    ),
    # Each of these writes a release record or an answer: caught as a write.
    "the stored grants name it": lambda c: c._transport._loaded_grants.update(
        {"app/1": {"restart": "2026-01-01 00:00:00.000000Z"}}
    ),
    "it is named to wake the leader": lambda c: setattr(c, "_awake", "ts"),
    "it let a revoked request go": lambda c: c._let_go.update(
        restart="2026-01-01 00:00:00.000000Z"
    ),
    "the grants name it": lambda c: c._ledger.grants.update({"app/1": {"restart": "ts"}}),
    "a revocation names it": lambda c: c._ledger.revoked.update({"app/1": {"restart": "ts"}}),
}


@pytest.mark.parametrize("case", sorted(NOT_IDLE))
def test_a_full_hook_that_ends_not_idle_drops_the_memo(idle, case):
    # coordinator-relation-changed: a full hook, which starts the coordinator at hook start.
    hook = idle.run(
        "app/1", "coordinator-relation-changed", handler=lambda: NOT_IDLE[case](_coordinator())
    )

    assert hook is not None
    assert unit_memory(idle, "app/1", MEMO) is None


def test_a_full_hook_that_ends_idle_keeps_the_memo_and_its_age(idle):
    before = unit_memory(idle, "app/1", MEMO)

    idle.run("app/1", "coordinator-relation-changed", handler=lambda: _coordinator())

    assert unit_memory(idle, "app/1", MEMO) == before


def test_a_hook_of_the_peer_relation_is_news_by_its_environment_too(idle):
    # Hook names come from JUJU_HOOK_NAME or the executable; JUJU_RELATION decides too
    # (the harness sets it, with JUJU_REMOTE_UNIT, when a remote unit is given).
    hook, calls = quiet_hook(idle, "app/1", "some-dispatched-hook", remote="app/2")

    assert ("is-leader", ()) in calls


def test_the_coordinator_object_built_but_unused_in_a_quiet_hook_reads_nothing(idle):
    def touch():
        import charms.coordinator

        charms.coordinator.coordinator  # noqa: B018 -- built, not used

    _, calls = quiet_hook(idle, "app/1", handler=touch)

    assert calls == []
    assert unit_memory(idle, "app/1", MEMO) is not None


def test_the_layers_actions_load_the_state_once(idle):
    idle.calls.clear()

    results, failed = idle.action("app/0", "coordinator-status")

    assert failed is None, results
    tools = [tool for u, tool, _ in idle.calls if u == "app/0" and tool != "juju-log"]
    assert tools.count("is-leader") == 1
    assert tools.count("relation-get --app") == 1


def test_a_granted_flag_set_by_hand_in_a_quiet_hook_is_cleared_without_reading(idle):

    def set_by_hand():
        import charms.coordinator

        charms.coordinator.coordinator  # noqa: B018 -- built, not used
        charms.reactive.set_flag("coordinator.granted.restart")

    _, calls = quiet_hook(idle, "app/1", handler=set_by_hand)

    assert calls == []
    assert "coordinator.granted.restart" not in unit_flags(idle, "app/1")


def test_an_action_decides_only_what_it_is_asked(idle):
    idle.run("app/2", handler=lambda: acquire("restart"))  # the leader has not seen it yet
    set_memory(idle, "app/0", "coordinator.leader-view", None)  # so the action reads it

    results, failed = idle.action("app/0", "coordinator-pause")

    assert failed is None, results
    assert idle.grants() == {}  # paused before anything was granted


def test_a_memo_made_stale_by_the_original_layer_is_dropped_at_upgrade_charm(idle):
    # A rollback to the original layer, which knows nothing of the memo, asked for the
    # lock in app/1's settings; refreshed to this layer again, upgrade-charm runs first.
    assert unit_memory(idle, "app/1", MEMO) is not None
    idle.settings["app/1"]["coordinator"] = json.dumps({"restart": "2026-01-01 00:00:00.000000Z"})

    hook, calls = quiet_hook(idle, "app/1", "upgrade-charm")

    assert ("is-leader", ()) in calls
    assert "coordinator.requested.restart" in hook.flags_in_handler
    assert unit_memory(idle, "app/1", MEMO) is None
    _, calls = quiet_hook(idle, "app/1")
    assert ("is-leader", ()) in calls  # still waiting: every hook reads
