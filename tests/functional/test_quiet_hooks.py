"""Quiet hooks on built charms, on each Juju profile (issue 23).

An idle non-leader's update-status makes no call of the layer's own: only the
``relation-ids`` and ``relation-list`` charms.reactive makes for the peer
Endpoint. Then the lease moves to such a unit, and a roll still runs to its end:
the new leader grants after its leader-elected. The rules, case by case, are in
tests/unit/test_quiet_hooks.py; the cost is measured by ``make bench``.
"""

import pytest

from jujusim import CostModel, Simulation
from jujusim.invariants import check_all_requesters_acted, check_max_concurrency, check_quiesced

#: What the same charm without the layer calls in update-status (layer:basic's
#: stand-in reads the config; charms.reactive logs).
WITHOUT_THE_LAYER = {"juju-log", "config-get"}


@pytest.mark.charms("rolling-restart")
def test_idle_non_leaders_call_only_for_the_endpoint_and_a_new_leader_still_rolls(
    built_charms, tmp_path, juju
):
    with Simulation(
        str(built_charms["rolling-restart"]),
        units=3,
        seed=4,
        backend="fork",
        workdir=str(tmp_path),
        profile=juju,
        update_status=True,
        costs=CostModel(update_status_interval=60.0),
    ) as sim:
        check_quiesced(sim)
        first = len(sim.trace)
        sim.run_for(250.0)  # three or four update-status hooks on each unit
        leader = sim.leader
        hooks = {}
        for r in sim.trace[first:]:
            if r.event == "begin" and r.hook == "update-status" and r.unit != leader:
                hooks.setdefault(r.unit, []).append(r.context_id)
        calls = {}
        for c in sim.tool_calls:
            if c.argv[0] not in WITHOUT_THE_LAYER:
                calls.setdefault(c.context_id, []).append(c.argv[0])
        # Each unit's first hook after the deployment may be the full one that
        # leaves the memo; every later one is quiet.
        assert len(hooks) == 2
        for unit, ids in sorted(hooks.items()):
            assert len(ids) >= 3, unit
            quiet = [sorted(calls.get(i, [])) for i in ids[1:]]
            assert quiet == [["relation-ids", "relation-list"]] * len(quiet), (unit, quiet)

        successor = sorted(u for u in sim.units if u != leader)[0]
        sim.expire_lease(successor=successor)
        deadline = sim.now + 120.0
        while "leader-elected" not in [h for _, h, _, _ in sim.hooks(successor)]:
            assert sim.now < deadline, "the successor never ran leader-elected"
            sim.run_for(1.0)
        since = sim.now
        sim.set_config(generation=1)
        check_quiesced(sim)

        assert check_max_concurrency(sim.journal, 1) == 1
        check_all_requesters_acted(sim.journal, sim.units, since=since)
