"""Who holds a grant when relation-list and the agent's cache lag behind the model.

A leader's relation-list shows the peers its own agent has joined, so a unit
added mid-roll, or every peer of a leader elected before its pending
relation-joined hooks run, is missing from it without having left. And the
agent serves a peer's settings from its cache until a relation-changed hook
for that peer, so a new leader can read a request older than the grant it
finds in the leader settings. Neither may make the leader hand a lock on
while its holder may still be working. A unit that really left loses its
grant, though Juju keeps its relation settings for the relation's lifetime:
the leader knows it left from the relation-departed hook it ran for it (as
leader or not), or from goal-state. A unit being removed decides nothing
from the peers it no longer lists.
"""

import datetime
import json

import pytest

from conftest import on_juju


def acquire(lock="restart"):
    import charms.coordinator

    return charms.coordinator.acquire(lock)


def request(model, unit):
    model.run(unit, "config-changed", handler=acquire)


def leader_sees(model, unit):
    model.run(model.leader, "coordinator-relation-changed", remote=unit)


def holders(model):
    return sorted(model.grants())


@pytest.fixture(params=["4", "3.6"])
def four(model, request):
    """Four units; every case runs on Juju 4 and 3.6, whose membership evidence
    (goal-state, JUJU_DEPARTING_UNIT, relation-list) is the same."""
    model.add_unit("app/3")
    return on_juju(model, request.param)


def test_new_leader_keeps_the_grant_of_a_unit_it_has_not_joined_yet(four):
    # app/3 was added mid-roll; the old leader joined it and granted it.
    request(four, "app/3")
    leader_sees(four, "app/3")
    request(four, "app/2")
    leader_sees(four, "app/2")
    assert holders(four) == ["app/3"]

    # The old leader goes; app/1 is elected, and its leader-elected runs
    # before its pending relation-joined(app/3): leadership hooks come first.
    four.units.remove("app/0")
    four.leader = "app/1"
    four.not_joined["app/1"] = {"app/3"}
    four.run("app/1", "leader-elected")

    assert holders(four) == ["app/3"]  # app/3 may be restarting: app/2 waits

    four.not_joined["app/1"] = set()
    four.run("app/1", "coordinator-relation-joined", remote="app/3")
    four.run("app/3", "coordinator-relation-changed")  # it worked and released
    leader_sees(four, "app/3")
    assert holders(four) == ["app/2"]


def test_new_unit_elected_before_joining_anyone_does_not_take_the_lock(four):
    request(four, "app/1")
    leader_sees(four, "app/1")
    assert holders(four) == ["app/1"]

    # app/4 is added and becomes leader at once: after relation-created its
    # relation-list is empty until its joined hooks run.
    four.add_unit("app/4")
    four.units.remove("app/0")
    four.leader = "app/4"
    four.not_joined["app/4"] = {"app/1", "app/2", "app/3"}
    four.run("app/4", "leader-elected")
    hook = four.run("app/4", "config-changed", handler=acquire)

    assert hook.result is False
    assert holders(four) == ["app/1"]
    assert list(four.requests_of("app/4")) == ["restart"]  # it waits its turn


def _holder_removed_with_force_then_leader_removed(four):
    """app/3 holds the lock and is removed with --force (its request stays in
    its settings, which Juju keeps); app/2 waits; then the leader goes too."""
    request(four, "app/3")
    leader_sees(four, "app/3")
    request(four, "app/2")
    leader_sees(four, "app/2")
    four.units.remove("app/3")
    four.units.remove("app/0")
    four.leader = "app/1"


def test_new_leader_that_ran_the_holders_departed_hook_drops_its_grant(four):
    four.goal_state_available = False  # only the recorded departure can tell
    four.not_joined["app/1"] = {"app/3"}  # gone from app/1's relation-list...
    four.run("app/1", "coordinator-relation-departed", remote="app/3", departing="app/3")
    _holder_removed_with_force_then_leader_removed(four)

    four.run("app/1", "leader-elected")

    assert holders(four) == ["app/2"]
    assert any("app/3 held 'restart' and has left" in m for m in four.messages("app/1"))


def test_new_leader_that_never_joined_the_gone_holder_asks_goal_state(four):
    four.not_joined["app/1"] = {"app/3"}
    _holder_removed_with_force_then_leader_removed(four)

    four.run("app/1", "leader-elected")

    assert holders(four) == ["app/2"]
    assert any("app/3 held 'restart' and is no longer a unit" in m for m in four.messages())


def test_without_goal_state_a_gone_holder_it_never_saw_leave_keeps_the_lock(four):
    # Juju < 2.4: nothing says app/3 left, and its settings still show its
    # request; the leader errs on the safe side (coordinator-release frees it).
    four.goal_state_available = False
    four.not_joined["app/1"] = {"app/3"}
    _holder_removed_with_force_then_leader_removed(four)

    four.run("app/1", "leader-elected")

    assert holders(four) == ["app/3"]


def test_without_goal_state_a_departed_hook_ends_the_holders_grant(four):
    four.goal_state_available = False  # Juju < 2.4: the departed hook is the evidence
    request(four, "app/1")
    request(four, "app/2")
    four.run("app/0", "leader-elected")  # a stale view: no memory of who was a member
    assert holders(four) == ["app/1"]

    four.units.remove("app/1")  # its settings stay readable
    four.run("app/0", "coordinator-relation-departed", remote="app/1", departing="app/1")

    assert holders(four) == ["app/2"]


def test_leader_elected_during_install_keeps_every_grant(four):
    request(four, "app/1")
    leader_sees(four, "app/1")

    # A new unit elected at once runs hooks before relation-created: no
    # relation id, nobody listed, nothing readable.
    four.add_unit("app/4")
    four.units.remove("app/0")
    four.leader = "app/4"
    four.relation = False
    four.run("app/4", "install")
    hook = four.run("app/4", "config-changed", handler=acquire)

    assert hook.result is False
    assert holders(four) == ["app/1"]


def test_requests_only_move_forward_even_when_the_clock_steps_back(four, monkeypatch):
    request(four, "app/1")
    leader_sees(four, "app/1")
    four.run("app/1", "coordinator-relation-changed")  # worked and released
    first = json.loads(four.settings["app/1"]["coordinator-released"])["restart"]

    def acquire_with_clock_an_hour_back():
        from charms.layer_coordinator import wire

        real = wire.utcnow
        monkeypatch.setattr(wire, "utcnow", lambda: real() - datetime.timedelta(hours=1))
        return acquire()

    four.run("app/1", "config-changed", handler=acquire_with_clock_an_hour_back)

    assert four.requests_of("app/1")["restart"] > first


@pytest.fixture(params=["4", "3.6"])
def cached(tmp_path, model, request):
    """Four units whose agents cache peer settings (``model`` sets up the environment)."""
    from conftest import FakeModel

    root = tmp_path / "cached"
    root.mkdir()
    fake = FakeModel(root, units=("app/0", "app/1", "app/2", "app/3"), peer_cache=True)
    return on_juju(fake, request.param)


def peek_requests():
    import charms.coordinator

    return dict(charms.coordinator.coordinator.requests)


def test_new_leader_reading_a_stale_request_keeps_the_newer_grant(cached):
    m = cached
    request(m, "app/2")  # request T0
    m.run("app/1", "coordinator-relation-changed", remote="app/2")
    leader_sees(m, "app/2")  # granted T0
    first = m.requests_of("app/2")["restart"]
    # app/1 reads every peer (charm code asking for coordinator.requests),
    # caching app/2's request T0 until its next relation-changed for app/2.
    assert m.run("app/1", handler=peek_requests).result["app/2"] == {"restart": first}
    m.run("app/2", "coordinator-relation-changed")  # works with T0, releases
    leader_sees(m, "app/2")
    request(m, "app/2")  # asks again: T1
    leader_sees(m, "app/2")  # granted T1
    second = m.grants()["app/2"]["restart"]
    assert second > first
    # app/3 asks with a clock an hour slow; app/1 has seen that, the leader not.
    m.settings["app/3"]["coordinator"] = json.dumps({"restart": "2026-01-01 00:00:00.000000Z"})
    m.run("app/1", "coordinator-relation-changed", remote="app/3")

    m.units.remove("app/0")
    m.leader = "app/1"
    m.run("app/1", "leader-elected")  # relation-changed(app/2) still pending here

    assert m.grants() == {"app/2": {"restart": second}}  # app/2 may be working
    m.run("app/2", "coordinator-relation-changed")  # it works with T1 and releases
    leader_sees(m, "app/2")  # the fresh read shows the release
    assert holders(m) == ["app/3"]


def test_a_newer_request_ends_the_older_grant(four):
    request(four, "app/1")
    leader_sees(four, "app/1")
    granted = four.grants()["app/1"]["restart"]
    four.settings["app/1"]["coordinator"] = json.dumps({"restart": "2099-01-01 00:00:00.000000Z"})

    leader_sees(four, "app/1")

    assert four.grants()["app/1"]["restart"] != granted


@pytest.mark.parametrize("hook", ["coordinator-relation-departed", "stop"])
def test_leader_being_removed_keeps_the_grants_of_peers_it_no_longer_lists(four, hook):
    request(four, "app/1")
    leader_sees(four, "app/1")
    request(four, "app/2")
    leader_sees(four, "app/2")
    four.run("app/0", "update-status")  # a current view with every peer in it

    # app/0 is being removed: it departs from each peer, then stops. Its
    # relation-list shrinks, though the peers stay; is-leader may still say
    # true (Juju's 30 s promise).
    four.not_joined["app/0"] = {"app/1", "app/2", "app/3"}
    departing = "app/0" if hook.endswith("departed") else None
    four.run("app/0", hook, remote="app/1" if departing else None, departing=departing)

    assert holders(four) == ["app/1"]


def test_leader_grants_itself_even_when_it_lists_no_peers(four):
    four.not_joined["app/0"] = {"app/1", "app/2", "app/3"}

    assert four.run("app/0", "config-changed", handler=acquire).result is False
    assert list(four.grants()) == ["app/0"]
    assert four.run("app/0", "coordinator-relation-changed", handler=acquire).result is True


def _holder_starts_dying(four):
    """app/1 holds the lock, app/2 waits; app/1's removal begins and the
    leader runs relation-departed for it at once (Juju reports a dying unit
    departed while it may still be in its guarded work)."""
    request(four, "app/1")
    leader_sees(four, "app/1")
    request(four, "app/2")
    leader_sees(four, "app/2")
    four.dying.add("app/1")
    four.run("app/0", "coordinator-relation-departed", remote="app/1", departing="app/1")


def test_dying_holder_keeps_its_grant_until_it_has_let_go(four):
    _holder_starts_dying(four)
    assert holders(four) == ["app/1"]  # the departed hook proves nothing

    four.run("app/1", "coordinator-relation-changed")  # it finishes its work and releases
    four.run("app/0", "update-status")  # the leader's next hook reads it directly
    assert holders(four) == ["app/2"]


def test_dying_holder_that_never_released_loses_the_lock_once_gone(four):
    _holder_starts_dying(four)
    assert holders(four) == ["app/1"]

    four.units.remove("app/1")  # dead and removed from the model (--force, say)
    four.run("app/0", "update-status")

    assert holders(four) == ["app/2"]


def test_a_subordinates_goal_state_without_itself_is_not_trusted(four):
    # goal-state on a subordinate lists only its principal's units.
    four.goal_units = []
    four.not_joined["app/0"] = {"app/3"}
    request(four, "app/3")
    four.not_joined["app/0"] = set()
    leader_sees(four, "app/3")
    four.not_joined["app/0"] = {"app/3"}  # e.g. a later leader that has not joined it yet

    four.run("app/0", "update-status")

    assert holders(four) == ["app/3"]
