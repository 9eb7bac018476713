"""A model migrated from Juju 3.6 to Juju 4 mid-roll keeps its locks (issue 21).

Built charms on the simulator's 3.6 profile, migrated with
`Simulation.migrate` (jujusim/migration.py: leader settings dropped, the
peer relation's data and the leader kept, a burst of hooks, 3.x agents on
the 4.x controller for `agents_after` seconds, then 4.x agents). The layer
keeps its grants, pause and queue in the peer relation's application
databag on 3.6 as on 4, so the migration carries them. Each scenario starts
with something in place: a unit in its guarded work, a held lock
(``hold=True``), a pause, a queue.
"""

import json

import pytest

from jujusim import JUJU_3_6, Simulation
from jujusim.invariants import (
    INFINITY,
    check_all_requesters_acted,
    check_max_concurrency,
    check_quiesced,
    guarded_intervals,
)

# 0: the agents upgrade as soon as the burst of the migration is due; 45: the
# 3.x agents run on the 4.x controller for a while (leader-set stores nothing).
# Both for the held lock, whose holder's hooks span the switch; one each for
# the others (a cold `make test` stays under 15 minutes).
AGENTS_AFTER = [0.0, 45.0]


def deploy(built_charms, tmp_path, charm="rolling-restart", units=4, seed=5, **kw):
    sim = Simulation(
        str(built_charms[charm]),
        units=units,
        seed=seed,
        backend="fork",
        workdir=str(tmp_path),
        profile=JUJU_3_6,
        **kw,
    )
    check_quiesced(sim)
    return sim


def inside(sim):
    return [iv.unit for iv in guarded_intervals(sim.journal) if iv.end == INFINITY]


def run_until(sim, predicate, step=1.0, limit=1800.0):
    end = sim.now + limit
    while sim.now < end:
        if predicate():
            return
        sim.run_for(step)
    pytest.fail("the awaited state never came")


def act(sim, unit, name, **params):
    action_id = sim.run_action(unit, name, params)
    run_until(sim, lambda: sim.action(action_id).status not in ("pending", "running"))
    result = sim.action(action_id)
    assert result.status == "completed", result.message
    return result


def start_roll_until_a_non_leader_works(sim):
    """Change the config (the fixtures' trigger); run until a non-leader works. Returns when."""
    since = sim.now
    sim.set_config(generation=1)
    run_until(sim, lambda: [u for u in inside(sim) if u != sim.leader])
    return since


def check_migrated(sim):
    assert [stage for _, stage in sim.migration_history][-1] == "4.x agents"
    assert sim.profile.name == "juju-4"


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("agents_after", [0.0])
def test_a_migration_while_a_unit_works_keeps_one_holder_and_finishes_the_roll(
    built_charms, tmp_path, agents_after
):
    with deploy(built_charms, tmp_path) as sim:
        since = start_roll_until_a_non_leader_works(sim)
        holder = inside(sim)[0]

        sim.migrate(agents_after=agents_after)
        check_quiesced(sim)

        check_migrated(sim)
        assert sim.leader_settings() == {}
        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)
        work = sorted(iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= since)
        assert work == sorted(sim.units)  # once each: the holder's grant was not lost
        assert holder in work


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("agents_after", [45.0])
def test_a_pause_and_its_queue_survive_a_migration_and_resume_finishes_the_roll(
    built_charms, tmp_path, agents_after
):
    with deploy(built_charms, tmp_path) as sim:
        since = start_roll_until_a_non_leader_works(sim)
        act(sim, sim.leader, "coordinator-pause")
        check_quiesced(sim)
        before = {iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= since}
        waiting = [u for u in sim.units if u not in before]
        assert waiting, "the pause left nobody waiting: the scenario tests nothing"
        (lock,) = json.loads(act(sim, sim.leader, "coordinator-status").results["locks"])
        queue = [q["unit"] for q in lock["queue"]]
        assert sorted(queue) == sorted(waiting)

        sim.migrate(agents_after=agents_after)
        check_quiesced(sim)

        check_migrated(sim)
        after = {iv.unit for iv in guarded_intervals(sim.journal) if iv.start >= since}
        assert after == before  # still paused: the pause came across in the databag
        status = act(sim, sim.leader, "coordinator-status").results
        assert status["paused"] == "true"
        (lock,) = json.loads(status["locks"])
        assert [q["unit"] for q in lock["queue"]] == queue  # the same places

        act(sim, sim.leader, "coordinator-resume")
        check_quiesced(sim)
        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)


@pytest.mark.charms("held-restart")
@pytest.mark.parametrize("agents_after", AGENTS_AFTER)
def test_a_held_lock_is_still_held_after_a_migration_until_its_holder_releases(
    built_charms, tmp_path, agents_after
):
    with deploy(built_charms, tmp_path, charm="held-restart", update_status=True) as sim:
        since = start_roll_until_a_non_leader_works(sim)
        holder = inside(sim)[0]
        migrated = sim.now

        sim.migrate(agents_after=agents_after)
        sim.run_for(120)  # past the burst; the holder holds until its update-status

        # Nobody else works before the holder releases, and it releases in its own
        # update-status (if that came within the 120 s), not because of the migration.
        ends = [e.time for e in sim.journal if e.unit == holder and e.event == "end"]
        ends = [t for t in ends if t >= migrated]
        if not ends:
            assert inside(sim) == [holder]
        else:
            statuses = [
                r.time
                for r in sim.trace
                if r.unit == holder
                and r.hook == "update-status"
                and r.event == "begin"
                and r.time >= migrated
            ]
            assert statuses, "the holder released without its update-status"
            assert statuses[0] <= ends[0]
            starts = [e.time for e in sim.journal if e.event == "start" and e.time >= migrated]
            assert all(t > ends[0] for t in starts), (starts, ends[0])

        def everyone_done():
            ivs = [iv for iv in guarded_intervals(sim.journal) if iv.start >= since]
            return {iv.unit for iv in ivs} >= set(sim.units) and not inside(sim)

        # A held lock lasts until its holder's update-status (every 300 s +- 20 %).
        run_until(sim, everyone_done, step=20.0, limit=20000.0)
        check_quiesced(sim)
        check_migrated(sim)
        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)
