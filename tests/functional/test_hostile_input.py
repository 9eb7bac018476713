"""End to end: garbage from a peer or in the databag does not break the application.

The built ``rolling-restart`` charm runs on four simulated units, on Juju 3.6
and on Juju 4. Before a rolling restart starts, a fault injection puts
garbage where the layer reads its data: in a non-leader's ``coordinator``
relation setting (as a buggy or hostile peer's committed write) or under
``coordinator`` in the peer relation's application databag.
Then the roll must go on as if nothing had happened: no hook fails anywhere,
every unit restarts exactly once and never two at a time, nothing is left
behind, and the garbage costs one clear WARNING line per bad write read,
naming where it came from, not one per hook for ever.
"""

import json

import pytest

from jujusim import Simulation
from jujusim.invariants import (
    check_max_concurrency,
    check_no_granted_flags_at_rest,
    check_quiesced,
    guarded_intervals,
)

UNITS = 4
LOCK = "restart"
# A request timestamp as the layer writes it (charmhelpers' format,
# "%Y-%m-%d %H:%M:%S.%fZ"): the simulated clock's epoch.
TIMESTAMP = "2026-01-01 00:00:00.000000Z"

PEER_GARBAGE = {
    "not-json": "not json",
    "json-list": "[1, 2, 3]",
    "json-string": '"restart"',
    "wrong-type": '{"restart": 5}',
    "bad-timestamp": '{"restart": "yesterday"}',
    # About 2.4 MB: 20,000 lock names, none with a timestamp.
    "megabytes": json.dumps({"lock-%05d" % n: "x" * 100 for n in range(20000)}),
}

LEADER_GARBAGE = {
    "not-json": "{{{",
    "wrong-shape": '{"rolling-restart/1": "restart"}',
}


@pytest.fixture
def deploy(tmp_path, built_charms, juju):
    """Return a function deploying the built rolling-restart charm, quiet; closes them all."""
    sims = []

    def start(seed=11):
        sim = Simulation(
            str(built_charms["rolling-restart"]),
            units=UNITS,
            seed=seed,
            backend="fork",
            profile=juju,
            workdir=str(tmp_path / ("sim%d" % len(sims))),
        )
        sims.append(sim)
        check_quiesced(sim)
        assert sim.journal == []
        return sim

    yield start
    for sim in sims:
        sim.close()


def a_follower(sim):
    return next(u for u in sim.units if u != sim.leader)


def roll(sim, generation=1):
    """Change config so every unit asks to restart; run until quiet; return the start time."""
    since = sim.now
    sim.set_config(generation=generation)
    check_quiesced(sim)
    return since


def check_rolled_cleanly(sim, since):
    """No hook failed; every unit restarted once, one at a time; nothing is left over."""
    assert sim.hooks(events=("fail",)) == []
    assert [u for u in sim.units if sim.in_error(u)] == []
    assert check_max_concurrency(sim.journal, 1, per_lock=False) == 1
    restarted = [
        iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= since and iv.lock == LOCK
    ]
    assert sorted(restarted) == sim.units  # each unit exactly once
    check_no_granted_flags_at_rest({u: sim.flags(u) for u in sim.units})
    # No request and no grant is left behind, and all of it is valid JSON again
    # (a unit that was always granted at once never published anything).
    for unit in sim.units:
        assert json.loads(sim.relation_settings(unit).get("coordinator", "{}")) == {}
    assert json.loads(sim.app_data()["coordinator"]) == {}


def warnings(sim, since=0.0):
    return [r for r in sim.logs if r.level == "WARNING" and r.time >= since]


def hook_of(sim, record):
    """The context id of the hook (or action) that logged ``record``."""
    (context,) = {
        c.context_id
        for c in sim.tool_calls
        if c.unit == record.unit and c.time == record.time and c.argv[0] == "juju-log"
    }
    return context


def check_one_clear_line(record, *words):
    assert "\n" not in record.message
    assert len(record.message) < 400  # even for megabytes of garbage
    for word in words:
        assert word in record.message


@pytest.mark.charms("rolling-restart")
@pytest.mark.first_variant_on_3_6
@pytest.mark.parametrize("garbage", list(PEER_GARBAGE.values()), ids=list(PEER_GARBAGE))
def test_peer_garbage_is_reported_once_and_the_roll_serves_everyone(deploy, garbage):
    sim = deploy()
    leader, bad = sim.leader, a_follower(sim)
    injected = sim.now

    sim.write_relation_settings(bad, {"coordinator": garbage})
    check_quiesced(sim)
    since = roll(sim)

    check_rolled_cleanly(sim, since)
    # The leader read the bad write once (in its relation-changed hook for
    # the bad unit) and said so in one line naming the unit. The bad unit
    # itself said so once, in its next hook, then published a valid request
    # over the garbage. Nobody else read it or complained.
    complaints = warnings(sim, injected)
    by_leader = [r for r in complaints if r.unit == leader]
    by_bad = [r for r in complaints if r.unit == bad]
    assert len(by_leader) == 1
    assert len(by_bad) == 1
    assert len(complaints) == 2
    check_one_clear_line(by_leader[0], "coordinator: ignoring", bad + "'s 'coordinator'")
    assert by_leader[0].hook == "coordinator-relation-changed"
    assert by_leader[0].time < since
    check_one_clear_line(by_bad[0], "coordinator: ignoring", "this unit's 'coordinator'")


@pytest.mark.charms("rolling-restart")
def test_a_request_for_a_lock_nobody_uses_is_granted_released_and_not_a_complaint(deploy):
    sim = deploy()
    leader, odd = sim.leader, a_follower(sim)
    injected = sim.now

    sim.write_relation_settings(odd, {"coordinator": json.dumps({"nosuch-lock": TIMESTAMP})})
    check_quiesced(sim)
    since = roll(sim)

    check_rolled_cleanly(sim, since)
    assert warnings(sim, injected) == []
    said = [(r.unit, r.message) for r in sim.logs if r.time >= injected]
    granted = said.index((leader, "coordinator: leader grants 'nosuch-lock' to " + odd))
    released = said.index((odd, "coordinator: %s releases 'nosuch-lock'" % odd))
    assert granted < released
    assert all(r.time < since for r in sim.logs if "nosuch-lock" in r.message)


@pytest.mark.charms("rolling-restart")
@pytest.mark.first_variant_on_3_6
@pytest.mark.parametrize("garbage", list(LEADER_GARBAGE.values()), ids=list(LEADER_GARBAGE))
def test_databag_garbage_is_repaired_by_the_leader_and_the_roll_completes(deploy, garbage):
    sim = deploy()
    injected = sim.now

    sim.write_app_data({"coordinator": garbage})
    check_quiesced(sim)
    assert sim.hooks(events=("fail",)) == []
    since = roll(sim)

    check_rolled_cleanly(sim, since)  # the setting is valid JSON again
    complaints = warnings(sim, injected)
    for record in complaints:
        check_one_clear_line(record, "coordinator: ignoring", "application databag 'coordinator'")
    # The leader repaired it in its first hook since (config-changed): it
    # read the garbage in that hook only.
    assert [r.hook for r in complaints if r.unit == sim.leader] == ["config-changed"]
    # Every non-leader read it in its relation-changed hook for the databag;
    # some maybe once more before the repair reached them; one line per hook.
    hooks = [hook_of(sim, r) for r in complaints]
    assert len(set(hooks)) == len(hooks)
    assert {r.unit for r in complaints} == set(sim.units)
    check_nothing_left_to_complain_about(sim)


@pytest.mark.charms("rolling-restart")
def test_databag_garbage_is_repaired_in_the_leaders_next_hook_with_nothing_to_grant(
    deploy,
):
    sim = deploy()
    leader, peer = sim.leader, a_follower(sim)
    injected = sim.now

    sim.write_app_data({"coordinator": '["rolling-restart/1"]'})
    check_quiesced(sim)
    # Each non-leader read it in its relation-changed hook for the databag and
    # said so once; the leader has run no hook since (Juju runs none on the
    # leader for a change of its own application's databag).
    assert sorted(r.unit for r in warnings(sim, injected)) == sorted(
        u for u in sim.units if u != leader
    )
    assert sim.app_data()["coordinator"] == '["rolling-restart/1"]'

    # Any hook of the leader repairs it, even with nothing to grant: here its
    # relation-changed hook for a peer's write of an unrelated key.
    seen = sim.now
    sim.write_relation_settings(peer, {"unrelated": "value"})
    check_quiesced(sim)

    assert json.loads(sim.app_data()["coordinator"]) == {}
    later = warnings(sim, seen)
    assert [(r.unit, r.hook) for r in later if r.unit == leader] == [
        (leader, "coordinator-relation-changed")
    ]
    # The other units ran relation-changed for the same write; those that read
    # the databag before the repair said so once each, and no more.
    assert len({r.unit for r in later}) == len(later)
    assert sim.hooks(events=("fail",)) == []
    check_nothing_left_to_complain_about(sim)


@pytest.mark.charms("rolling-restart")
def test_a_grant_for_a_unit_that_does_not_exist_is_revoked_and_the_roll_completes(deploy):
    sim = deploy()
    leader = sim.leader
    ghost = "rolling-restart/9"
    assert ghost not in sim.units

    sim.write_app_data({"coordinator": json.dumps({ghost: {LOCK: TIMESTAMP}})})
    check_quiesced(sim)
    since = roll(sim)

    check_rolled_cleanly(sim, since)  # the ghost's grant is gone
    revoked = [
        r for r in sim.logs if r.unit == leader and r.message.startswith("coordinator: " + ghost)
    ]
    assert [r.message.split(" (")[0] for r in revoked] == [
        "coordinator: %s held 'restart' and is no longer a unit of the application" % ghost,
        "coordinator: %s released 'restart'" % ghost,
    ]
    check_nothing_left_to_complain_about(sim)


def check_nothing_left_to_complain_about(sim):
    """Every unit reads the layer's state once more (the coordinator-status action)."""
    since = sim.now
    ids = [sim.run_action(unit, "coordinator-status") for unit in sim.units]
    check_quiesced(sim)
    assert [sim.action(i).status for i in ids] == ["completed"] * len(ids)
    assert warnings(sim, since) == []
