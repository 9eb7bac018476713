"""Refreshing a live application from the original layer:coordinator to this layer (issue 21).

Charms built on the test-only stand-in for the original layer
(``tests/layers/coordinator-original``: grants in leader settings, release
by deleting the request) and on this layer, refreshed unit by unit in the
simulator on Juju 3.6 (the original cannot run on Juju 4: it needs
``leader-get`` and ``leader-set``). Units refresh in no set order
(``Simulation.upgrade_charm(..., units=...)`` picks who goes first).
"""

import pytest

from jujusim import JUJU_3_6, Simulation
from jujusim.invariants import (
    check_all_requesters_acted,
    check_max_concurrency,
    check_quiesced,
    guarded_intervals,
)

ORIGINAL = "rolling-restart-original"
LAYER = "rolling-restart"


def on_3_6(charm, tmp_path, units=4, seed=3):
    """A simulation of `charm` on Juju 3.6 (the original cannot run on Juju 4)."""
    return Simulation(
        str(charm), units=units, seed=seed, backend="fork", workdir=str(tmp_path), profile=JUJU_3_6
    )


def run_until_a_non_leader_holds(sim, step=2.0, limit=3600.0):
    """Advance the simulation until a non-leader is inside guarded work; return it."""
    end = sim.now + limit
    while sim.now < end:
        sim.run_for(step)
        inside = [
            iv.unit
            for iv in guarded_intervals(sim.journal)
            if iv.end == float("inf") and iv.unit != sim.leader
        ]
        if inside:
            return inside[0]
    pytest.fail("no non-leader started guarded work")


@pytest.mark.charms(ORIGINAL, LAYER)
def test_a_leader_refreshed_mid_roll_hands_the_lock_on_when_an_old_holder_releases(
    built_charms, tmp_path
):
    sim = Simulation(
        str(built_charms[ORIGINAL]),
        units=3,
        seed=1,
        backend="fork",
        workdir=str(tmp_path),
        profile=JUJU_3_6,
    )
    with sim:
        check_quiesced(sim)
        since = sim.now
        sim.set_config(generation=1)
        holder = run_until_a_non_leader_holds(sim)
        others = [u for u in sim.units if u != sim.leader]

        sim.upgrade_charm(str(built_charms[LAYER]), units=[sim.leader])
        check_quiesced(sim)

        # The holder finished on the original and released its way; no
        # grant of the lock may still name it (before issue 21: held until it refreshed).
        worked = [iv for iv in guarded_intervals(sim.journal) if iv.unit == holder]
        assert worked[-1].end < sim.now
        assert holder not in sim.app_data().get("coordinator", "")
        sim.deliver_charm(others)
        check_quiesced(sim)

        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)


def refresh_mid_roll(sim, new_charm, first):
    """Start a roll, refresh `first` ('leader', 'holder' or 'other') once a non-leader holds
    the lock, and the other units once the model is quiet. Returns (holder, first unit)."""
    sim.set_config(generation=1)
    holder = run_until_a_non_leader_holds(sim)
    leader = sim.leader
    other = next(u for u in sim.units if u not in (leader, holder))
    unit = {"leader": leader, "holder": holder, "other": other}[first]
    sim.upgrade_charm(new_charm, units=[unit])
    check_quiesced(sim)
    sim.deliver_charm([u for u in sim.units if u != unit])
    check_quiesced(sim)
    return holder, unit


@pytest.mark.charms(ORIGINAL, LAYER)
@pytest.mark.parametrize("first", ["leader", "holder", "other"])
def test_a_refresh_mid_roll_keeps_one_holder_and_every_unit_works_once(
    built_charms, tmp_path, first
):
    with on_3_6(built_charms[ORIGINAL], tmp_path) as sim:
        check_quiesced(sim)
        since = sim.now

        refresh_mid_roll(sim, str(built_charms[LAYER]), first)

        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)
        # Once each: the granted flag the original leaves in unitdata until the
        # next hook starts never starts guarded work again after a refresh.
        work = [iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= since]
        assert sorted(work) == sorted(sim.units)  # check_quiesced: nobody in error


def refresh_one_at_a_time(sim, new_charm, leader_at, gap=20.0):
    """Refresh the units one by one, `gap` simulated seconds apart, the leader
    'first', in the 'middle' or 'last'; return the order they were told in."""
    # A unit takes the new files when its running hook ends, so a holder
    # (its hook may last 30 s) is told last of the non-leaders.
    holding = {iv.unit for iv in guarded_intervals(sim.journal) if iv.end == float("inf")}
    others = sorted((u for u in sim.units if u != sim.leader), key=lambda u: u in holding)
    at = {"first": 0, "middle": len(others) // 2, "last": len(others)}[leader_at]
    order = others[:at] + [sim.leader] + others[at:]
    sim.upgrade_charm(new_charm, units=order[:1])
    for unit in order[1:]:
        sim.run_for(gap)
        sim.deliver_charm([unit])
    check_quiesced(sim)
    assert {u: p for t, u, p in sim.charm_history} == dict.fromkeys(sim.units, new_charm)
    refreshed = {}
    for t, u, p in sim.charm_history:
        if p == new_charm:
            refreshed.setdefault(u, t)
    if leader_at != "first":
        # Some unit ran this layer while the leader still ran the original.
        assert min(refreshed.values()) < refreshed[sim.leader]
    return order


def work_since(sim, since):
    return sorted(iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= since)


@pytest.mark.charms(ORIGINAL, LAYER)
@pytest.mark.parametrize(
    ("when", "leader_at"),
    [(when, at) for when in ("before", "during", "after") for at in ("first", "middle", "last")],
)
def test_a_refresh_one_unit_at_a_time_before_during_or_after_a_roll_keeps_every_promise(
    built_charms, tmp_path, when, leader_at
):
    """Issue 21's orders: the refresh before, during or after a roll, with the
    leader refreshed first, in the middle or last, units one at a time so that
    both revisions serve the roll for a while."""
    layer = str(built_charms[LAYER])
    with on_3_6(built_charms[ORIGINAL], tmp_path, units=3) as sim:
        check_quiesced(sim)
        if when == "after":
            since = sim.now
            sim.set_config(generation=1)
            check_quiesced(sim)
            assert work_since(sim, since) == sorted(sim.units)
        since = sim.now
        if when == "during":
            sim.set_config(generation=1)
            run_until_a_non_leader_holds(sim)
        refresh_one_at_a_time(sim, layer, leader_at)
        if when != "during":
            # A refresh alone starts no guarded work: not even the granted
            # flag the original leaves in unitdata until the next hook.
            assert work_since(sim, since) == []
            sim.set_config(generation=2)
            check_quiesced(sim)

        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)
        assert work_since(sim, since) == sorted(sim.units)


@pytest.mark.charms(ORIGINAL, LAYER)
@pytest.mark.parametrize("first", ["leader", "other"])
def test_a_refresh_back_after_coordinator_pause_keeps_one_holder_and_finishes_the_roll(
    built_charms, tmp_path, first
):
    """The README's way back to the original mid-roll: pause, let the holder finish, refresh.

    The original's leader reads grants only from leader settings, where this
    layer keeps none, so a refresh back while a unit holds a lock cannot be
    made safe without a second broadcast per grant on every roll (README,
    "Upgrading from the original layer"). Paused with nobody holding, the
    original's leader takes over the queue from the requests alone.
    """
    with on_3_6(built_charms[LAYER], tmp_path) as sim:
        check_quiesced(sim)
        since = sim.now
        sim.set_config(generation=1)
        run_until_a_non_leader_holds(sim)
        action_id = sim.run_action(sim.leader, "coordinator-pause", {})
        check_quiesced(sim)  # the holder finishes; nobody else is granted
        paused = sim.action(action_id)
        assert paused.status == "completed", paused.message
        assert not [iv for iv in guarded_intervals(sim.journal) if iv.end == float("inf")]
        waiting = [u for u in sim.units if "coordinator.requested.restart" in sim.flags(u)]
        assert waiting, "the pause left nobody waiting: the scenario tests nothing"

        unit = sim.leader if first == "leader" else next(u for u in waiting if u != sim.leader)
        sim.upgrade_charm(str(built_charms[ORIGINAL]), units=[unit])
        check_quiesced(sim)
        sim.deliver_charm([u for u in sim.units if u != unit])
        check_quiesced(sim)

        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)
        work = [iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= since]
        assert sorted(work) == sorted(sim.units)


@pytest.mark.charms(ORIGINAL, LAYER)
def test_an_old_holder_in_error_is_refreshed_retries_on_this_layer_and_the_roll_finishes(
    built_charms, tmp_path
):
    # The holder, on the original, fails right after its guarded work (before
    # it could release); the refresh reaches it in error: Juju retries the
    # failed hook on the new files, with no upgrade-charm.
    with on_3_6(built_charms[ORIGINAL], tmp_path) as sim:
        check_quiesced(sim)
        since = sim.now
        sim.set_config(generation=1)
        holder = run_until_a_non_leader_holds(sim)
        sim.fail_next_hook(holder, "journal-end")
        while not sim.in_error(holder):
            sim.run_for(0.5)
        start = len(sim.trace)

        sim.upgrade_charm(str(built_charms[LAYER]))
        check_quiesced(sim)

        retried = [r.hook for r in sim.trace[start:] if r.unit == holder and r.event == "commit"]
        assert retried
        assert "upgrade-charm" not in retried
        assert [p for t, u, p in sim.charm_history if u == holder][-1] == str(built_charms[LAYER])
        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)
