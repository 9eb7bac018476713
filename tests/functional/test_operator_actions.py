"""The layer's operator actions on a real built charm, run by jujusim's action tools."""

import json

import pytest

from jujusim import Simulation
from jujusim.invariants import (
    check_all_requesters_acted,
    check_max_concurrency,
    check_quiesced,
    guarded_intervals,
)


@pytest.fixture
def sim(tmp_path, built_charms, juju):
    with Simulation(
        str(built_charms["rolling-restart"]),
        units=4,
        seed=11,
        backend="fork",
        profile=juju,
        workdir=str(tmp_path),
    ) as s:
        check_quiesced(s)
        yield s


def act(sim, on_unit, name, **params):
    action_id = sim.run_action(on_unit, name, params)
    check_quiesced(sim)
    return sim.action(action_id)


def holding(sim):
    return [iv.unit for iv in guarded_intervals(sim.journal) if iv.end == float("inf")]


def advance_until_a_non_leader_works(sim, limit=600.0):
    end = sim.now + limit
    while sim.now < end and not [u for u in holding(sim) if u != sim.leader]:
        sim.run_for(2)
    assert holding(sim), "no non-leader started guarded work"


@pytest.mark.charms("rolling-restart")
def test_status_on_any_unit_reports_policy_leader_and_empty_queues(sim):
    other = next(u for u in sim.units if u != sim.leader)

    result = act(sim, other, "coordinator-status")

    assert result.status == "completed", result.message
    assert result.results["leader"] == sim.leader
    assert result.results["paused"] == "false"
    assert json.loads(result.results["policy"])["class"] == "SimpleCoordinator"
    assert "no lock is held or requested" in result.results["summary"]


@pytest.mark.charms("rolling-restart")
def test_status_mid_roll_shows_the_holder_and_the_queue_in_order(sim):
    sim.set_config(generation=1)
    advance_until_a_non_leader_works(sim)
    sim.run_for(10)

    action_id = sim.run_action(sim.leader, "coordinator-status", {})
    while sim.action(action_id).status in ("pending", "running"):
        sim.run_for(1)  # actions run when the unit is between hooks
    result = sim.action(action_id)

    assert result.status == "completed", result.message
    (lock,) = json.loads(result.results["locks"])
    assert lock["name"] == "restart"
    assert len(lock["holders"]) == 1
    assert len(lock["queue"]) >= 1
    waiting = [q["waiting-seconds"] for q in lock["queue"]]
    assert waiting == sorted(waiting, reverse=True)  # oldest request first
    print(result.results["summary"])  # shown with -s; the README sample comes from here


@pytest.mark.charms("rolling-restart")
def test_pause_holds_the_roll_and_resume_finishes_it(sim):
    sim.set_config(generation=1)
    advance_until_a_non_leader_works(sim)
    paused = act(sim, sim.leader, "coordinator-pause")
    assert paused.status == "completed", paused.message
    done_while_paused = {iv.unit for iv in guarded_intervals(sim.journal)}
    assert len(done_while_paused) < len(sim.units)  # the holder finished; nobody else started

    resumed = act(sim, sim.leader, "coordinator-resume")

    assert resumed.status == "completed", resumed.message
    check_max_concurrency(sim.journal, 1)
    check_all_requesters_acted(sim.journal, sim.units)


@pytest.mark.charms("rolling-restart")
def test_pause_on_a_non_leader_fails_naming_the_leader(sim):
    other = next(u for u in sim.units if u != sim.leader)

    result = act(sim, other, "coordinator-pause")

    assert result.status == "failed"
    assert sim.leader in result.message


@pytest.mark.charms("rolling-restart")
def test_release_frees_the_lock_of_a_stuck_unit_and_the_roll_continues(sim):
    sim.set_config(generation=1)
    advance_until_a_non_leader_works(sim)
    stuck = next(u for u in holding(sim) if u != sim.leader)
    sim.fail_next_hook(stuck, after_journal_end=True)  # dies after its work, holding the lock
    while not sim.in_error(stuck):
        sim.run_for(1)

    action_id = sim.run_action(sim.leader, "coordinator-release", {"unit": stuck})
    while sim.action(action_id).status in ("pending", "running"):
        sim.fail_next_hook(stuck, after_journal_end="first-tool-call")  # its retries keep dying
        sim.run_for(1)
    result = sim.action(action_id)
    check_quiesced(sim)  # the stuck unit recovers at its next retry

    assert result.status == "completed", result.message
    assert json.loads(result.results["revoked"]) == ["restart"]
    check_max_concurrency(sim.journal, 1)
    check_all_requesters_acted(sim.journal, sim.units)
    assert sim.in_error(stuck) is None
