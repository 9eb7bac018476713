"""The layer's policy options on a real built charm: N at a time, leader last, waiting status."""

import pytest

import layerlog
from jujusim import Simulation
from jujusim.invariants import (
    check_all_requesters_acted,
    check_max_concurrency,
    check_no_granted_flags_at_rest,
    check_quiesced,
    guarded_intervals,
)


@pytest.fixture
def sim(tmp_path, built_charms, juju):
    with Simulation(
        str(built_charms["policies"]),
        units=6,
        seed=21,
        backend="fork",
        workdir=str(tmp_path),
        profile=juju,
    ) as s:
        check_quiesced(s)
        yield s


def roll(sim, generation=1, **config):
    since = sim.now
    sim.set_config(generation=generation, **config)
    check_quiesced(sim)
    check_all_requesters_acted(sim.journal, sim.units, since=since)
    check_no_granted_flags_at_rest({u: sim.flags(u) for u in sim.units})
    return since


@pytest.mark.charms("policies")
@pytest.mark.first_variant_on_3_6
@pytest.mark.parametrize(("batch", "allowed"), [("1", 1), ("2", 2), ("50%", 3), ("lots", 1)])
def test_operator_sets_how_many_units_restart_at_once(sim, batch, allowed):
    roll(sim, batch=batch)

    assert check_max_concurrency(sim.journal, allowed) == allowed


@pytest.mark.charms("policies")
def test_invalid_batch_is_logged_and_counts_as_one(sim):
    roll(sim, batch="lots")

    warnings = [r for r in sim.logs if r.level == "WARNING" and "'batch' = 'lots'" in r.message]
    assert warnings


@pytest.mark.charms("policies")
def test_leader_is_granted_only_when_no_other_unit_it_knows_of_waits(sim):
    leader = sim.leader
    since = roll(sim, batch="1")
    sim.run_for(400)  # a second roll in which the leader has seen the others first
    second = roll(sim, generation=2, batch="1")

    for start in (since, second):
        asked = layerlog.requests(sim, "restart", start)
        granted = layerlog.grants(sim, "restart", start)
        done = set()
        for when, unit in granted:
            if unit == leader:
                waiting = [
                    u
                    for u, (_, seen) in asked.items()
                    if u not in done and u != leader and seen <= when
                ]
                assert waiting == [], f"leader granted at t={when:.1f} while {waiting} waited"
            done.add(unit)
    order = [iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= second]
    assert order[-1] == leader


@pytest.mark.charms("policies")
def test_waiting_units_show_their_queue_place_and_get_their_status_back(sim):
    since = roll(sim, batch="1")

    shown = [
        r
        for r in sim.status_history
        if r.time >= since and r.status == "waiting" and r.message.startswith("Waiting for lock")
    ]
    assert shown, "no unit showed its place in the queue"
    assert any(" of " in r.message and "in queue" in r.message for r in shown)
    for unit in sim.units:
        status, message = sim.status(unit)[:2]
        assert (status, message) == ("active", "Live")
