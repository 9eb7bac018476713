"""End-to-end: real charms built with `charm build` from this layer, run by jujusim.

Each test deploys a fixture charm on several simulated units, changes
config to start a rolling restart, and checks the coordination invariants
on the trace: never more units in guarded work than the policy allows,
every unit that asked acted, no grant flag at rest, the model quiesces.
Nothing of the layer is patched: the hooks run charms.reactive.main() and
the layer's real code; only the hook tools are simulated.
"""

import json
from dataclasses import replace

import pytest

import layerlog
from jujusim import JUJU_2_9, JUJU_3_6, JUJU_4, Simulation
from jujusim.invariants import (
    check_all_requesters_acted,
    check_max_concurrency,
    check_no_granted_flags_at_rest,
    check_quiesced,
    guarded_intervals,
)

BACKEND = "fork"


@pytest.fixture
def simulate(tmp_path, juju):
    """Return a function that starts a Simulation on `juju`; every one is closed afterwards."""
    sims = []

    def start(charm, units=5, seed=1, **kw):
        kw.setdefault("backend", BACKEND)
        kw.setdefault("profile", juju)
        sim = Simulation(
            str(charm), units=units, seed=seed, workdir=str(tmp_path / f"sim{len(sims)}"), **kw
        )
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        sim.close()


def deploy(simulate, charm, units=5, seed=1, **kw):
    sim = simulate(charm, units=units, seed=seed, **kw)
    check_quiesced(sim)
    assert sim.journal == []  # deploying restarts nothing
    return sim


def flags_at_rest(sim):
    return {unit: sim.flags(unit) for unit in sim.units}


def workers(sim, lock="restart", since=0.0):
    """Units in the order they started guarded work on ``lock``."""
    return [
        iv.unit for iv in guarded_intervals(sim.journal) if iv.lock == lock and iv.start >= since
    ]


def check_fifo(sim, lock="restart", since=0.0, tie=0.05):
    """Every grant goes to the oldest request the leader had seen; return the grant order.

    Request times are the simulated times of the layer's "requests" log
    lines; requests closer than ``tie`` count as simultaneous.
    """
    asked = layerlog.requests(sim, lock, since)
    done = set()
    order = []
    for when, unit in layerlog.grants(sim, lock, since):
        skipped = [
            u
            for u, (t_asked, t_seen) in asked.items()
            if u not in done and u != unit and t_seen <= when and t_asked < asked[unit][0] - tie
        ]
        assert not skipped, (
            f"at t={when:.2f} {unit} was granted before older known requests {skipped}"
        )
        done.add(unit)
        order.append(unit)
    return order


def roll(sim, generation=1, max_hooks=5000):
    since = sim.now
    sim.set_config(generation=generation)
    hooks = check_quiesced(sim, max_hooks=max_hooks)
    return since, hooks


def check_rolled(sim, allowed=1, lock="restart", since=0.0, per_lock=True):
    peak = check_max_concurrency(sim.journal, allowed, per_lock=per_lock)
    check_all_requesters_acted(sim.journal, sim.units, lock=lock, since=since)
    check_no_granted_flags_at_rest(flags_at_rest(sim))
    return peak


@pytest.mark.charms("rolling-restart")
def test_five_units_restart_one_at_a_time_each_once_in_request_order(simulate, built_charms):
    sim = deploy(simulate, built_charms["rolling-restart"])

    since, _ = roll(sim)

    assert check_rolled(sim, since=since) == 1
    order = workers(sim, since=since)
    assert sorted(order) == sorted(sim.units)  # each unit exactly once
    assert order == check_fifo(sim, since=since)  # and in request order


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("where", ["2.9", "3.6.8", "4"])
def test_a_juju_that_runs_the_leaders_own_databag_hook_rolls_the_same_way(
    built_charms, tmp_path, where
):
    # Juju 2.9 and some 3.6 releases (juju/juju#20178, 3.6.8) run relation-changed on the
    # leader for its own databag change as well as the wake's: one hook more, same roll.
    # Juju 4's watcher forwards the change to the writer too (docs/juju4-research.md,
    # section 4); whether its resolver then runs the hook on the leader was not read, so
    # the JUJU_4 profile runs none and this runs the other reading.
    profile = {
        "2.9": JUJU_2_9,
        "3.6.8": replace(JUJU_3_6, leader_app_hooks=True),
        "4": replace(JUJU_4, leader_app_hooks=True),
    }[where]
    charm = str(built_charms["rolling-restart"])
    with Simulation(
        charm, units=5, seed=1, backend=BACKEND, workdir=str(tmp_path), profile=profile
    ) as sim:
        check_quiesced(sim)
        since, _ = roll(sim)

        assert check_rolled(sim, since=since) == 1
        order = workers(sim, since=since)
        assert sorted(order) == sorted(sim.units)
        assert order == check_fifo(sim, since=since)
        own = [r for r in sim.trace if r.unit == sim.leader and r.event == "begin"]
        assert any(r.hook == "coordinator-relation-changed" and r.remote_unit is None for r in own)


@pytest.mark.charms("rolling-restart")
def test_leader_hands_the_lock_on_in_the_hook_where_it_releases_it(simulate, built_charms):
    sim = deploy(simulate, built_charms["rolling-restart"])
    leader = sim.leader
    since = sim.now
    sim.set_config(generation=1)
    run_until_a_non_leader_holds(sim)
    sim.set_config(generation=2)  # the leader asks again while others wait
    check_quiesced(sim)

    check_max_concurrency(sim.journal, 1)
    intervals = [iv for iv in guarded_intervals(sim.journal) if iv.start >= since]
    handovers = 0
    for n, iv in enumerate(intervals[:-1]):
        if iv.unit != leader:
            continue
        nxt = intervals[n + 1]
        work_ctx = next(
            c.context_id
            for c in sim.tool_calls
            if c.unit == leader and c.time == iv.start and c.argv[0] == "sim-journal"
        )
        committed = next(
            r.time for r in sim.trace if r.context_id == work_ctx and r.event in ("commit", "fail")
        )
        grants = [
            json.loads(data.get("coordinator") or "{}")
            for when, data in sim.app_data_history
            if when == committed
        ]
        if not any(nxt.unit in g for g in grants):
            continue  # the leader had not yet seen anyone waiting (first roll)
        # The hook that did the leader's work committed the next unit's grant.
        handovers += 1
    assert handovers >= 1


@pytest.mark.charms("rolling-restart")
def test_leader_removed_while_another_unit_holds_the_lock(simulate, built_charms):
    sim = deploy(simulate, built_charms["rolling-restart"], seed=2)
    old_leader = sim.leader
    since = sim.now
    sim.set_config(generation=1)
    holder = run_until_a_non_leader_holds(sim)

    sim.remove_leader()
    check_quiesced(sim)

    assert sim.leader not in (None, old_leader)
    assert holder in workers(sim, since=since)
    check_max_concurrency(sim.journal, 1)
    check_all_requesters_acted(sim.journal, sim.units, since=since)
    check_no_granted_flags_at_rest(flags_at_rest(sim))


@pytest.mark.charms("rolling-restart")
def test_removed_holder_loses_its_grant_once_gone_and_the_others_finish(simulate, built_charms):
    # Juju reports the holder departed as soon as its removal begins, while
    # it may still be working; its grant ends at the leader's first hook
    # after it is gone (update-status at the latest), never before.
    sim = deploy(simulate, built_charms["rolling-restart"], seed=3, update_status=True)
    since = sim.now
    sim.set_config(generation=1)
    holder = run_until_a_non_leader_holds(sim)

    sim.remove_unit(holder)
    check_quiesced(sim)
    while any(unit_is_waiting(sim, u) for u in sim.units):
        sim.run_for(400)  # update-status comes every 300 s +-20 %

    assert holder not in sim.units
    assert holder not in sim.leader_settings().get("coordinator", "")
    [stop] = [r.time for r in sim.trace if r.unit == holder and r.hook == "stop"][-1:]
    [granted] = [iv.start for iv in guarded_intervals(sim.journal) if iv.unit == holder]
    later = [iv.start for iv in guarded_intervals(sim.journal) if iv.start > granted]
    assert later
    assert min(later) > stop  # nobody worked while the lock was still its
    check_max_concurrency(sim.journal, 1)
    check_all_requesters_acted(sim.journal, sim.units, since=since)


def unit_is_waiting(sim, unit):
    return any(f.startswith("coordinator.requested.") for f in sim.flags(unit))


@pytest.mark.charms("rolling-restart")
def test_failed_hook_after_guarded_work_is_retried_without_overlap(simulate, built_charms):
    sim = deploy(simulate, built_charms["rolling-restart"], seed=4)
    victim = next(u for u in sim.units if u != sim.leader)
    sim.fail_next_hook(victim, after_journal_end=True)

    since, _ = roll(sim)

    failed = [h for h in sim.trace if h.unit == victim and h.event == "fail"]
    assert failed, "the injected failure did not happen"
    check_rolled(sim, since=since)
    # The retried hook still holds the grant (the release never committed), so
    # the victim restarts again: once in the failed hook, once on retry.
    assert workers(sim, since=since).count(victim) == 2
    assert all(workers(sim, since=since).count(u) == 1 for u in sim.units if u != victim)


@pytest.mark.charms("rolling-restart")
def test_single_unit_without_peers_acquires_at_once(simulate, built_charms):
    sim = deploy(simulate, built_charms["rolling-restart"], units=1)

    since, hooks = roll(sim)

    assert workers(sim, since=since) == sim.units
    assert hooks == 1  # config-changed requests, is granted and restarts in one hook


@pytest.mark.charms("serial-two-locks")
def test_serial_allows_different_locks_at_once_but_never_the_same(simulate, built_charms):
    sim = deploy(simulate, built_charms["serial-two-locks"], seed=5)
    since = sim.now
    sim.set_config(**{"backup-generation": 1})  # everyone asks for backup
    run_until_a_non_leader_holds(sim)
    sim.set_config(generation=1)  # now restart too, while someone backs up

    check_quiesced(sim)

    assert check_max_concurrency(sim.journal, 1, per_lock=True) == 1
    assert check_max_concurrency(sim.journal, 5, per_lock=False) == 2
    for lock in ("restart", "backup"):
        check_all_requesters_acted(sim.journal, sim.units, lock=lock, since=since)
    check_no_granted_flags_at_rest(flags_at_rest(sim))


@pytest.mark.charms("two-at-once")
def test_custom_class_lets_two_units_restart_at_once(simulate, built_charms):
    sim = deploy(simulate, built_charms["two-at-once"], seed=6)

    since, _ = roll(sim)

    assert check_rolled(sim, allowed=2, since=since) == 2


@pytest.mark.charms("bad-class", "rolling-restart")
def test_bad_class_fails_every_hook_clearly_and_upgrade_recovers_without_loss(
    simulate, built_charms
):
    sim = deploy(simulate, built_charms["rolling-restart"], seed=7)
    since = sim.now
    sim.set_config(generation=1)
    sim.run_for(120)  # the roll is under way: some units restarted, some wait
    started = set(workers(sim, since=since))
    assert 0 < len(started) < len(sim.units)

    sim.upgrade_charm(str(built_charms["bad-class"]))
    sim.run_for(600)
    broken = [u for u in sim.units if sim.in_error(u)]
    assert broken == sim.units
    errors = [r for r in sim.logs if r.level == "ERROR" and r.time > since]
    assert any(
        "coordinator.class = 'charms.nosuch.Coordinator' is invalid" in r.message for r in errors
    )

    sim.upgrade_charm(str(built_charms["rolling-restart"]))
    check_quiesced(sim)

    check_max_concurrency(sim.journal, 1)
    check_all_requesters_acted(sim.journal, sim.units, since=since)
    check_no_granted_flags_at_rest(flags_at_rest(sim))


@pytest.mark.charms("rolling-restart")
def test_unit_added_mid_roll_joins_the_queue_and_finishes(simulate, built_charms):
    sim = deploy(simulate, built_charms["rolling-restart"], seed=8)
    since = sim.now
    sim.set_config(generation=1)
    sim.run_for(60)
    new = sim.add_unit()
    sim.run_for(60)
    sim.set_config(generation=2)  # everyone, the new unit included, asks again

    check_quiesced(sim)

    assert new in workers(sim, since=since)
    check_max_concurrency(sim.journal, 1)
    check_all_requesters_acted(sim.journal, sim.units, since=since)
    check_no_granted_flags_at_rest(flags_at_rest(sim))


def run_until_a_non_leader_holds(sim, step=5.0, limit=3600.0):
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
