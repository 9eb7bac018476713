"""Held locks on a real built charm: acquire(lock, hold=True) kept across hooks until release().

The ``held-restart`` fixture asks for the ``restart`` lock with ``hold=True``
when its ``generation`` option changes, starts its journaled restart in the
hook that is granted the lock, and ends it and calls ``release`` only in a
later hook: the first update-status hook after the restart. The simulator
runs update-status every 300 s (+-20 %) of simulated time
(``update_status=True``), so a unit holds the lock for up to about that long,
across whatever other hooks it runs meanwhile.

The invariants checked on the trace: never two units inside a restart, each
restart's start and end in different hooks with the grant kept (and its flag
set) in every hook in between, the next grant only after the holder's release
(or after the holder has left the application), and, once everything has
settled, no grant, request or held lock left anywhere.
"""

import json

import pytest

import layerlog
from jujusim import Simulation
from jujusim.invariants import (
    INFINITY,
    check_all_requesters_acted,
    check_max_concurrency,
    check_quiesced,
    guarded_intervals,
)

LOCK = "restart"
GRANTED = f"coordinator.granted.{LOCK}"
REQUESTED = f"coordinator.requested.{LOCK}"

# The longest simulated time between two update-status hooks of a unit
# (300 s + 20 %), and so the longest a healthy unit holds the lock.
UPDATE_STATUS_MAX = 360.0


@pytest.fixture
def simulate(tmp_path, built_charms, juju):
    """Return a function that deploys held-restart and lets it settle; all are closed after."""
    sims = []

    def deploy(units=5, seed=1):
        sim = Simulation(
            str(built_charms["held-restart"]),
            units=units,
            seed=seed,
            backend="fork",
            profile=juju,
            update_status=True,
            workdir=str(tmp_path / f"sim{len(sims)}"),
        )
        sims.append(sim)
        check_quiesced(sim)
        assert sim.journal == []  # deploying restarts nothing
        return sim

    yield deploy
    for sim in sims:
        sim.close()


# -- reading the trace ---------------------------------------------------------


def hooks_of(sim, unit):
    """The unit's hooks in order: dicts with context, name, begin and end (None if running)."""
    hooks = {}
    for rec in sim.trace:
        if rec.unit != unit:
            continue
        if rec.event == "begin":
            hooks[rec.context_id] = {
                "context": rec.context_id,
                "name": rec.hook,
                "remote": rec.remote_unit,
                "begin": rec.time,
                "end": None,
                "event": None,
            }
        elif rec.context_id in hooks:
            hooks[rec.context_id]["end"] = rec.time
            hooks[rec.context_id]["event"] = rec.event
    return sorted(hooks.values(), key=lambda h: h["begin"])


def journal_hook(sim, unit, event, when):
    """The context id of the hook in which ``unit`` journaled ``event`` at time ``when``."""
    return next(
        c.context_id
        for c in sim.tool_calls
        if c.unit == unit
        and c.time == when
        and c.argv[:3] == ("sim-journal", event, LOCK)
        and c.rc == 0
    )


def committed_at(sim, context):
    """When the hook ``context`` committed, or None if it has not (yet)."""
    return next(
        (h.time for h in sim.trace if h.context_id == context and h.event == "commit"), None
    )


def live_intervals(sim, since=0.0):
    return [
        iv
        for iv in guarded_intervals(sim.journal)
        if iv.unit in sim.units and iv.lock == LOCK and iv.start >= since
    ]


def holding_between_hooks(sim, unit):
    """True if the unit's last committed hook left it holding the lock.

    That is: the hook that started its restart has committed and the hook
    that ends it has not.
    """
    for iv in guarded_intervals(sim.journal):
        if iv.unit != unit or iv.lock != LOCK:
            continue
        if committed_at(sim, journal_hook(sim, unit, "start", iv.start)) is None:
            continue
        if iv.end == INFINITY or committed_at(sim, journal_hook(sim, unit, "end", iv.end)) is None:
            return True
    return False


def idle(sim, unit):
    """True if the unit runs no hook now (its unit state on disk is committed state)."""
    hooks = hooks_of(sim, unit)
    return not hooks or hooks[-1]["end"] is not None


def check_flags_follow_the_hold(sim):
    """Between hooks, the granted flag is set exactly while the unit holds the lock.

    Returns the idle units seen holding, so that callers can make sure the
    check was not vacuous.
    """
    seen = []
    for unit in sim.units:
        if not idle(sim, unit):
            continue
        holding = holding_between_hooks(sim, unit)
        flags = sim.flags(unit)
        assert (GRANTED in flags) == holding, (
            f"t={sim.now:.1f}: {unit} {'holds' if holding else 'does not hold'} the lock "
            f"between hooks, but its flags are {flags}"
        )
        if holding:
            assert "held-restart.rejoining" in flags
            assert sim.unit_kv(unit).get("coordinator.held") == [LOCK]
            seen.append(unit)
    return seen


# -- driving the model ---------------------------------------------------------


def settle(sim, since, step=20.0, limit=20000.0, every_step=None):
    """Run until every live unit has restarted since ``since`` and nobody has for a while.

    Nobody holding the lock (no open restart) for two update-status periods
    means nothing more is coming: a waiting unit is granted within seconds
    of a release. ``every_step`` is called after each step. Then runs the
    model until quiet.
    """
    end = sim.now + limit
    while sim.now < end:
        sim.run_for(step)
        if every_step is not None:
            every_step()
        ivs = live_intervals(sim, since)
        done = {iv.unit for iv in ivs if iv.end != INFINITY}
        last = max((e.time for e in sim.journal), default=since)
        if (
            done >= set(sim.units)
            and all(iv.end != INFINITY for iv in live_intervals(sim))
            and sim.now - last > 2 * UPDATE_STATUS_MAX
        ):
            break
    else:
        pytest.fail(f"the roll started at t={since:.1f} did not finish by t={sim.now:.1f}")
    check_quiesced(sim)


def run_until_holding_between_hooks(sim, leader, step=2.0, limit=3600.0):
    """Run until the leader (or a non-leader) holds the lock with its restart hook committed."""
    end = sim.now + limit
    while sim.now < end:
        sim.run_for(step)
        for unit in sim.units:
            if (unit == sim.leader) == leader and holding_between_hooks(sim, unit):
                if idle(sim, unit):
                    return unit
    pytest.fail(f"no {'leader' if leader else 'non-leader'} came to hold the lock between hooks")


def check_all_released(sim):
    """At rest nothing is held or requested: flags, unit data, leader settings, relation data."""
    for unit in sim.units:
        flags = sim.flags(unit)
        left = [f for f in flags if f.startswith("coordinator.")]
        assert left == [], f"{unit} keeps {left} at rest"
        assert "held-restart.rejoining" not in flags
        assert "held-restart.restart-needed" not in flags
        assert not sim.unit_kv(unit).get("coordinator.held"), f"{unit} still holds a lock"
        requests = json.loads(sim.relation_settings(unit).get("coordinator") or "{}")
        assert requests == {}, f"{unit} still requests {requests}"
        assert sim.status(unit)[:2] == ("active", "Live")
    settings = sim.leader_settings()
    assert json.loads(settings.get("coordinator") or "{}") == {}
    assert not settings.get("coordinator-granted-at")


# -- scenarios -----------------------------------------------------------------


@pytest.mark.charms("held-restart")
def test_each_unit_holds_the_lock_across_hooks_until_healthy_and_the_next_waits(simulate):
    sim = simulate(units=5, seed=1)
    since = sim.now
    seen_holding = []

    sim.set_config(generation=1)
    settle(
        sim,
        since,
        step=5.0,
        every_step=lambda: seen_holding.extend(check_flags_follow_the_hold(sim)),
    )

    # One at a time, every unit exactly once.
    assert check_max_concurrency(sim.journal, 1) == 1
    check_all_requesters_acted(sim.journal, sim.units, lock=LOCK, since=since)
    intervals = live_intervals(sim, since)
    assert sorted(iv.unit for iv in intervals) == sorted(sim.units)
    # The flag check between hooks saw units holding (a unit whose first
    # update-status came right after its restart hook may never be idle
    # while holding at a sampled moment).
    assert seen_holding, "no unit was ever seen holding the lock between hooks"

    hooks_in_between = 0
    for iv in intervals:
        start_ctx = journal_hook(sim, iv.unit, "start", iv.start)
        end_ctx = journal_hook(sim, iv.unit, "end", iv.end)
        hooks = hooks_of(sim, iv.unit)
        contexts = [h["context"] for h in hooks]
        first, last = contexts.index(start_ctx), contexts.index(end_ctx)
        # The restart ended in a later hook, an update-status one, than it began.
        assert first < last, f"{iv.unit} started and ended its restart in one hook"
        assert hooks[last]["name"] == "update-status"
        assert committed_at(sim, start_ctx) <= hooks[last]["begin"]
        # Every hook after the one that restarted it, up to the one that
        # released, began with the grant held (the layer's per-hook debug line).
        for hook in hooks[first + 1 : last + 1]:
            assert hook["event"] == "commit"
            held = [
                r
                for r in sim.logs
                if r.unit == iv.unit
                and hook["begin"] <= r.time <= hook["end"]
                and r.message == f"coordinator: {iv.unit} holds {LOCK!r}"
            ]
            assert held, (
                f"{iv.unit} did not hold the lock in its {hook['name']} at {hook['begin']}"
            )
        hooks_in_between += last - first - 1
    # At least one holder ran other hooks (peers' relation-changed, leader
    # settings) while it held the lock, and kept the grant through them.
    assert hooks_in_between > 0

    # The leader grants the lock to the next unit only once the holder has
    # released it: after the commit of the hook that released it, or within
    # that very hook when the holder is the leader itself.
    grants = layerlog.grants(sim, LOCK, since)
    assert [unit for _, unit in grants] == [iv.unit for iv in intervals]
    for holder, (granted_at, unit) in zip(intervals, grants[1:]):
        end_ctx = journal_hook(sim, holder.unit, "end", holder.end)
        released = [
            r.time
            for r in sim.logs
            if r.unit == holder.unit
            and r.message == f"coordinator: {holder.unit} releases {LOCK!r}"
            and r.time >= holder.end
        ]
        assert released, f"{holder.unit} never logged its release"
        if holder.unit == sim.leader:
            assert granted_at >= released[0]
        else:
            assert granted_at >= committed_at(sim, end_ctx)
        assert next(iv for iv in intervals if iv.unit == unit).start > granted_at

    check_all_released(sim)


@pytest.mark.charms("held-restart")
@pytest.mark.parametrize("leader", [False, True], ids=["non-leader", "leader"])
def test_holder_removed_while_holding_the_lock_passes_it_on(simulate, leader):
    sim = simulate(units=5, seed=3)
    old_leader = sim.leader
    since = sim.now
    sim.set_config(generation=1)
    holder = run_until_holding_between_hooks(sim, leader=leader)
    removed_at = sim.now
    assert GRANTED in sim.flags(holder)

    sim.remove_unit(holder)
    settle(sim, since)

    assert holder not in sim.units
    if leader:
        assert sim.leader not in (None, old_leader)
    # The holder left while it held: its restart never ended.
    (gone,) = [iv for iv in guarded_intervals(sim.journal) if iv.unit == holder]
    assert gone.end == INFINITY
    assert holder not in sim.leader_settings().get("coordinator", "")
    # The lock was handed on only once the holder had left the relation: after
    # the last of its relation-departed hooks, which takes it out of scope.
    departed = [
        h["end"] for h in hooks_of(sim, holder) if h["name"] == "coordinator-relation-departed"
    ]
    assert len(departed) == len(sim.units)
    left_at = max(departed)
    after = [iv for iv in live_intervals(sim, since) if iv.start > removed_at]
    assert after, "nobody restarted after the holder was removed"
    assert all(iv.start > left_at for iv in after), (left_at, after)
    # Only the holder was inside a restart when it was removed.
    assert all(iv.end <= removed_at for iv in live_intervals(sim, since) if iv.start < removed_at)
    # The others all finished, one at a time.
    assert check_max_concurrency([e for e in sim.journal if e.unit in sim.units], 1) == 1
    check_all_requesters_acted(sim.journal, sim.units, lock=LOCK, since=since)
    check_all_released(sim)


@pytest.mark.charms("held-restart")
def test_config_change_while_a_unit_holds_the_lock_leaves_nothing_held_at_rest(simulate):
    sim = simulate(units=4, seed=5)
    since = sim.now
    sim.set_config(generation=1)
    # Stop where one unit has restarted and released and another holds.
    end = sim.now + 3600
    while sim.now < end:
        holder = run_until_holding_between_hooks(sim, leader=False)
        if any(iv.end != INFINITY for iv in live_intervals(sim, since)):
            break
    else:
        pytest.fail("no unit held the lock after another had released it")
    held_since = next(iv.start for iv in live_intervals(sim, since) if iv.unit == holder)

    second = sim.now
    sim.set_config(generation=2)
    settle(sim, second)

    # The holder kept the lock until healthy and did not restart again while
    # holding (guarded_intervals would reject a second start before the end);
    # it asked again after its release and restarted a second time.
    ivs = [iv for iv in live_intervals(sim, since) if iv.unit == holder]
    assert ivs[0].start == held_since
    # The new generation reached the holder while it held the lock.
    assert any(
        h["name"] == "config-changed" and second <= h["begin"] < ivs[0].end
        for h in hooks_of(sim, holder)
    )
    assert len(ivs) == 2
    assert ivs[1].start > ivs[0].end
    assert check_max_concurrency(sim.journal, 1) == 1
    check_all_requesters_acted(sim.journal, sim.units, lock=LOCK, since=second)
    check_all_released(sim)
