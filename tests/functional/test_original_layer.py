"""The stand-in for the original layer:coordinator, on its built fixture charm.

``tests/layers/coordinator-original`` speaks the original layer's protocol and
is the baseline of ``make bench`` (fixture ``rolling-restart-original``: the
rolling-restart charm built on the stand-in, staged as layer:coordinator).
These tests pin what makes it a faithful baseline: the coordination calls a
non-leader's hook costs (counted as the bench counts them,
``bench.COORDINATION_TOOLS``), measured on the original layer itself as N+8, and
2N+7 in ``coordinator-relation-*`` hooks, where its peer endpoint reads every
peer's data again; charmhelpers' data format; and the granted flag that stays
in unitdata until the unit's next hook starts.
"""

import json
from collections import Counter

import pytest

from bench import COORDINATION_TOOLS
from jujusim import Simulation
from jujusim.invariants import (
    check_all_requesters_acted,
    check_max_concurrency,
    check_quiesced,
)

FIXTURE = "rolling-restart-original"
GRANTED = "coordinator.granted.restart"


@pytest.fixture
def original_charm(built_charms):
    return built_charms[FIXTURE]


def roll(charm, workdir, units, **kw):
    """Deploy, change the config once and run the roll to quiet.

    Return the Simulation and where the roll starts: (time, trace index, tool call index).
    """
    sim = Simulation(str(charm), units=units, seed=1, backend="fork", workdir=str(workdir), **kw)
    try:
        check_quiesced(sim)
        start = (sim.now, len(sim.trace), len(sim.tool_calls))
        sim.set_config(generation=1)
        check_quiesced(sim)
    except BaseException:
        sim.close()
        raise
    return sim, start


def non_leader_costs(sim, first_hook, first_call):
    """{hook name: the distinct coordination call counts of its non-leader runs} since then."""
    calls = Counter(
        c.context_id for c in sim.tool_calls[first_call:] if c.argv[0] in COORDINATION_TOOLS
    )
    costs = {}
    for record in sim.trace[first_hook:]:
        if record.event == "begin" and not record.leader:
            costs.setdefault(record.hook, set()).add(calls[record.context_id])
    return {hook: sorted(counts) for hook, counts in costs.items()}


@pytest.mark.charms(FIXTURE)
@pytest.mark.parametrize("units", [3, 5])
def test_a_non_leader_hook_costs_what_the_original_layers_costs(original_charm, tmp_path, units):
    sim, (since, first_hook, first_call) = roll(original_charm, tmp_path, units)
    with sim:
        costs = non_leader_costs(sim, first_hook, first_call)
        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)

    assert costs == {
        # 2N+7: the peer endpoint reads every peer (N-1) on top of N+8.
        "coordinator-relation-changed": [2 * units + 7],
        "leader-settings-changed": [units + 8],
        # acquire() asks is-leader once more in the hook that requests.
        "config-changed": [units + 9],
    }


def coordination_data(sim):
    """(every unit's requests, the leader's grants), decoded from charmhelpers' JSON."""
    data = sim.relation_data()
    return (
        {u: json.loads(d.get("coordinator") or "null") for u, d in data.items()},
        json.loads(sim.leader_settings().get("coordinator") or "null"),
    )


def snapshots(sim, step=0.25, limit=600.0):
    """Step ``sim`` until every unit's guarded work is over; yield coordination_data."""
    deadline = sim.now + limit
    while sim.now < deadline:
        sim.run_for(step)
        yield coordination_data(sim)
        if sum(e.event == "end" for e in sim.journal) == len(sim.units):
            return


@pytest.mark.charms(FIXTURE)
def test_requests_and_grants_are_kept_in_charmhelpers_format(original_charm, tmp_path):
    sim = Simulation(str(original_charm), units=2, seed=1, backend="fork", workdir=str(tmp_path))
    with sim:
        check_quiesced(sim)
        leader = sim.leader
        other = next(u for u in sim.units if u != leader)
        sim.set_config(generation=1)
        seen = list(snapshots(sim))
        check_quiesced(sim)
        requests, grants = coordination_data(sim)

    # The non-leader's request: {lock: timestamp} under its own peer data key
    # "coordinator"; the leader's grant of that very request in leader
    # settings, key "coordinator": {unit: {lock: timestamp}}.
    asked = [r[other]["restart"] for r, _ in seen if (r.get(other) or {}).get("restart")]
    assert asked
    assert any((g or {}).get(other) == {"restart": asked[0]} for _, g in seen)
    # Released by deleting the request; the leader then drops the grant.
    assert requests == {leader: {}, other: {}}
    assert grants == {leader: {}, other: {}}


@pytest.mark.charms(FIXTURE)
def test_the_granted_flag_stays_in_unitdata_until_the_next_hook_starts(original_charm, tmp_path):
    sim, _ = roll(original_charm, tmp_path, 1, update_status=True)
    with sim:
        unit = sim.units[0]
        at_rest = sim.flags(unit)
        hooks_before = len(sim.trace)
        sim.run_for(2 * sim.costs.update_status_interval)
        later = [r.hook for r in sim.trace[hooks_before:] if r.event == "commit"]
        after = sim.flags(unit)

    assert GRANTED in at_rest
    assert "update-status" in later
    assert GRANTED not in after
    assert [e.event for e in sim.journal] == ["start", "end"]  # the stale flag restarted nothing
