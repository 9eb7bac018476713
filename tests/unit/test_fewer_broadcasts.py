"""Writes nobody needs and reads of what cannot have changed (issue 20's bench targets).

Two rules, each a broadcast or a hook-tool call saved per hook:

- A leader's request that its own grant stands for is not published in its
  unit settings: every peer would run a relation-changed for it, and again
  for its deletion, while only the leader decides on it. unitdata keeps it;
  should the unit lose leadership first, its next hook publishes it, and a
  new leader keeps a grant whose holder shows no request meanwhile.
- In a hook of the peer relation a unit takes its own settings from the copy
  unitdata keeps of its last read: only the unit writes them, and a hook
  that writes them drops the copy, so the next hook reads what Juju
  committed, or refused. Every other hook reads them from Juju.
"""

import json

import pytest

from conftest import unit_memory

LOCAL = "coordinator.local-requests"
COPY = "coordinator.own-settings"


def acquire(lock, hold=False):
    import charms.coordinator

    return charms.coordinator.acquire(lock, hold=hold)


def own_settings_written(model, unit):
    return [args for u, tool, args in model.calls if u == unit and tool == "relation-set"]


def own_reads(model, unit):
    return [
        args
        for u, tool, args in model.calls
        if u == unit and tool == "relation-get" and args[1] == unit
    ]


# -- the leader's own request ----------------------------------------------------


def test_a_leader_granting_itself_at_once_broadcasts_no_request(model):
    model.run("app/0", "update-status")
    model.calls.clear()

    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))

    assert list(model.grants()) == ["app/0"]
    assert model.requests_of("app/0") == {}
    assert list(unit_memory(model, "app/0", LOCAL)) == ["restart"]
    assert own_settings_written(model, "app/0") == []

    hook = model.run("app/0", "coordinator-relation-changed", remote="app/1")  # the wake

    assert "coordinator.granted.restart" in hook.flags_in_handler
    assert model.grants() == {}
    assert unit_memory(model, "app/0", LOCAL) is None
    assert own_settings_written(model, "app/0") == []  # nothing to delete either


def test_a_leader_queued_behind_a_holder_publishes_its_request(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert list(model.grants()) == ["app/1"]

    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))

    assert list(model.requests_of("app/0")) == ["restart"]  # a successor must see it
    assert list(model.grants()) == ["app/1"]


def test_a_deposed_leader_keeps_its_grant_works_and_says_it_let_go(model):
    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))
    grant = model.grants()["app/0"]["restart"]
    model.run("app/2", handler=lambda: acquire("restart"))
    model.leader = "app/1"

    model.run("app/1", "leader-elected")  # sees app/0's grant, no request from it
    assert model.grants() == {"app/0": {"restart": grant}}

    hook = model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert "coordinator.granted.restart" in hook.flags_in_handler  # its committed grant
    assert model.requests_of("app/0") == {}  # asked, worked and let go in one hook
    assert json.loads(model.settings["app/0"]["coordinator-released"]) == {"restart": grant}
    model.run("app/1", "coordinator-relation-changed", remote="app/0")
    assert list(model.grants()) == ["app/2"]


def test_a_deposed_leader_waiting_for_its_grant_publishes_its_request(model):
    model.run("app/0", "config-changed", handler=lambda: acquire("restart", hold=True))
    ts = model.grants()["app/0"]["restart"]
    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # holds it
    model.leader = "app/1"

    model.run("app/0", "update-status")

    assert model.requests_of("app/0") == {"restart": ts}
    model.run("app/1", "leader-elected")
    assert model.grants() == {"app/0": {"restart": ts}}


def test_a_withheld_request_survives_a_commit_juju_refuses(model):
    model.lease_lapses_before_commit = "app/1"

    hook = model.run("app/0", "config-changed", handler=lambda: acquire("restart"))

    assert hook.commit_refused
    assert model.grants() == {}
    assert model.requests_of("app/0") == {}
    model.run("app/0", "config-changed")  # Juju retries it; the charm does not ask again
    assert list(model.requests_of("app/0")) == ["restart"]
    model.run("app/1", "coordinator-relation-changed", remote="app/0")
    assert list(model.grants()) == ["app/0"]


# -- the copy of its own settings ------------------------------------------------


def test_a_peer_relation_hook_after_one_that_wrote_nothing_reads_no_own_settings(model):
    model.run("app/1", "update-status")
    model.calls.clear()

    model.run("app/1", "coordinator-relation-changed", remote="app/2")

    assert own_reads(model, "app/1") == []


def test_the_hook_after_a_write_reads_own_settings_again(model):
    model.run("app/1", "coordinator-relation-changed", remote="app/2")
    model.run("app/1", "coordinator-relation-changed", handler=lambda: acquire("x"))
    assert unit_memory(model, "app/1", COPY) is None
    model.calls.clear()

    model.run("app/1", "coordinator-relation-changed", remote="app/2")

    assert len(own_reads(model, "app/1")) == 1
    assert unit_memory(model, "app/1", COPY)["requests"] == model.requests_of("app/1")


def test_other_hooks_of_a_unit_with_a_request_read_own_settings(model):
    model.run("app/0", "update-status")
    model.run("app/0", handler=lambda: acquire("x"))  # app/0 holds it: app/1 waits
    model.run("app/1", "update-status", handler=lambda: acquire("x"))
    model.calls.clear()

    model.run("app/1", "update-status")
    model.run("app/1", "config-changed")

    # (An idle unit reads nothing in such hooks: test_quiet_hooks.)
    assert len(own_reads(model, "app/1")) == 2


@pytest.mark.parametrize(
    "copy",
    [
        "garbage",
        {"relation": "coordinator:9", "requests": {}, "released": {}, "awake": None},
        {"relation": "coordinator:0", "requests": [], "released": {}, "awake": None},
        {"relation": "coordinator:0", "requests": {}, "released": {}, "awake": 5},
    ],
    ids=["not-a-dict", "other-relation", "requests-not-a-dict", "awake-not-text"],
)
def test_an_unusable_copy_is_read_again_and_nothing_is_lost(model, copy):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/1", "coordinator-relation-changed", remote="app/2")
    assert unit_memory(model, "app/1", COPY) is not None

    def spoil():
        from charmhelpers.core import unitdata

        unitdata.kv().set(COPY, copy)

    model.run("app/1", "update-status", handler=spoil)  # e.g. an older revision's value
    model.calls.clear()

    model.run("app/1", "coordinator-relation-changed", remote="app/2")

    assert len(own_reads(model, "app/1")) == 1
    assert list(model.requests_of("app/1")) == ["restart"]
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert list(model.grants()) == ["app/1"]


def test_a_release_is_not_undone_by_the_copy_read_before_it(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    model.run("app/1", "coordinator-relation-changed", remote="app/2")  # the copy: asked
    model.run("app/1", "coordinator-relation-changed", remote="app/0")  # works, releases
    assert model.requests_of("app/1") == {}
    model.calls.clear()

    hook = model.run("app/1", "coordinator-relation-changed", remote="app/2", handler=lambda: None)

    assert "coordinator.requested.restart" not in hook.flags_in_handler
    assert own_settings_written(model, "app/1") == []
    assert model.requests_of("app/1") == {}


def test_a_grant_the_copy_cannot_explain_makes_the_unit_read_its_settings(model):
    model.run("app/1", "update-status")  # the copy: no requests
    # Its charm code writes the layer's key itself (a buggy charm, an older library).
    model.settings["app/1"]["coordinator"] = json.dumps({"x": "2026-01-01 00:00:00.000000Z"})
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert list(model.grants()) == ["app/1"]
    model.calls.clear()

    hook = model.run("app/1", "coordinator-relation-changed", remote="app/0", handler=lambda: None)

    assert len(own_reads(model, "app/1")) == 1
    assert "coordinator.granted.x" in hook.flags_in_handler


def test_a_revoked_grant_of_a_deposed_leader_is_not_granted_again(model):
    # Found in review: the new leader saw no request of app/0's and forgot the
    # revocation at once; app/0 then published its request and got it again.
    model.run("app/0", "config-changed", handler=lambda: acquire("restart", hold=True))
    ts = model.grants()["app/0"]["restart"]
    model.leader = "app/1"
    model.run("app/1", "leader-elected")
    model.run("app/2", handler=lambda: acquire("restart"))

    _, failed = model.action("app/1", "coordinator-release", unit="app/0")

    assert failed is None
    assert json.loads(model.app_data["coordinator-revoked"]) == {"app/0": {"restart": ts}}
    model.run("app/1", "coordinator-relation-changed", remote="app/2")
    assert list(model.grants()) == ["app/2"]
    model.run("app/2", "coordinator-relation-changed", remote="app/1")  # works, releases
    model.run("app/1", "coordinator-relation-changed", remote="app/2")
    assert model.grants() == {}

    hook = model.run("app/0", "coordinator-relation-changed", remote="app/1", handler=lambda: None)

    assert "coordinator.requested.restart" not in hook.flags_in_handler
    assert model.requests_of("app/0") == {}
    assert any("an operator revoked app/0's 'restart'" in m for _, _, m in model.logs)
    model.run("app/1", "coordinator-relation-changed", remote="app/0")
    assert model.grants() == {}
    assert "coordinator-revoked" not in model.app_data  # app/0 said it let go


def test_a_leader_holding_a_lock_it_never_published_uses_its_copy(model):
    model.run("app/0", "config-changed", handler=lambda: acquire("restart", hold=True))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # the wake: holds it
    model.calls.clear()

    hook = model.run("app/0", "coordinator-relation-changed", remote="app/2", handler=lambda: None)

    assert "coordinator.granted.restart" in hook.flags_in_handler
    assert own_reads(model, "app/0") == []


def test_a_new_leader_named_to_wake_the_old_one_answers(model):
    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))
    waker = model.app_data["coordinator-wake"].split()[0]
    model.leader = waker

    model.run(waker, "leader-elected")

    assert "coordinator-awake" in model.settings[waker]  # app/0 gets its hook
