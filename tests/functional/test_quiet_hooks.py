"""Quiet hooks on built charms, on each Juju profile (issue 23).

An idle non-leader's update-status makes no call of the layer's own: only the
``relation-ids`` and ``relation-list`` charms.reactive makes for the peer
Endpoint. Then the lease moves to such a unit, and a roll still runs to its end:
the new leader grants after its leader-elected. On Juju 3.6, the bound of a stale
memo after a refresh to the original layer and back in error (no upgrade-charm).
The rules, case by case, are in tests/unit/test_quiet_hooks.py; the cost is
measured by ``make bench``.
"""

import ast

import pytest

from jujusim import JUJU_3_6, CostModel, Simulation
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


def quiet_constants(charm, *names):
    """The values of `names` in the built charm's charms.layer_coordinator.quiet."""
    tree = ast.parse((charm / "lib/charms/layer_coordinator/quiet.py").read_text())
    found = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return [ast.literal_eval(found[name]) for name in names]


@pytest.mark.charms("rolling-restart-original", "rolling-restart")
def test_a_leader_made_on_the_original_and_refreshed_in_error_grants_when_its_memo_expires(
    built_charms, tmp_path
):
    """The bound the README gives under Limits, on Juju 3.6 (the original runs nowhere else).

    An idle non-leader leaves its memo, is refreshed back to the original, becomes
    leader there (the original grants in leader settings, which units on this
    layer do not read, so the roll stalls), fails an update-status, and is
    refreshed forward while in error: Juju retries that hook on the new files
    with no upgrade-charm, and the memo from before is still valid, so the hook
    is quiet. The unit then leads with no news until the memo expires; its
    first full hook after that takes over the original's grant and the roll
    ends, one unit at a time. The stall itself is asserted as the scenario's
    state: a memo that a refresh without upgrade-charm invalidates would end it
    sooner, and this test would then check that shorter bound instead.
    """
    original, layer = built_charms["rolling-restart-original"], built_charms["rolling-restart"]
    memo_key, quiet_for = quiet_constants(layer, "MEMO_KEY", "QUIET_FOR")
    costs = CostModel()
    latest_update_status = costs.update_status_interval * (1 + costs.update_status_jitter)
    with Simulation(
        str(layer),
        units=3,
        seed=2,
        backend="fork",
        workdir=str(tmp_path),
        profile=JUJU_3_6,
        update_status=True,
    ) as sim:
        check_quiesced(sim)
        sim.run_for(400.0)  # every unit's update-status at least once
        unit = sorted(u for u in sim.units if u != sim.leader)[0]
        memo = sim.unit_kv(unit).get(memo_key)
        assert memo, "the idle non-leader left no memo: the scenario tests nothing"

        sim.upgrade_charm(str(original), units=[unit])
        check_quiesced(sim)
        sim.expire_lease(successor=unit)
        sim.run_for(60.0)
        assert "leader-elected" in [h for _, h, _, _ in sim.hooks(unit)]
        since = sim.now
        sim.set_config(generation=1)
        sim.run_for(200.0)
        assert "rolling-restart.restart-needed" not in sim.flags(unit), (
            "the original's leader did not work first: its retried hook would ask, not be quiet"
        )
        waiting = [u for u in sim.units if "coordinator.requested.restart" in sim.flags(u)]
        assert waiting, "nobody waits: the roll did not stall, the scenario tests nothing"

        sim.fail_next_hook(unit, "first-tool-call")
        deadline = sim.now + 2 * latest_update_status
        while not sim.in_error(unit):
            assert sim.now < deadline, "the armed failure never put the unit in error"
            sim.run_for(0.5)
        start = len(sim.trace)
        sim.upgrade_charm(str(layer), units=[unit])  # reaches the unit in error
        check_quiesced(sim)

        mine = [r for r in sim.trace[start:] if r.unit == unit and r.event == "begin"]
        retried = mine[0]
        assert retried.hook == "update-status"
        assert retried.leader
        assert "upgrade-charm" not in [r.hook for r in mine]
        calls = sorted(
            c.argv[0]
            for c in sim.tool_calls
            if c.context_id == retried.context_id and c.argv[0] not in WITHOUT_THE_LAYER
        )
        assert calls == ["relation-ids", "relation-list"], calls  # quiet, as a leader

        # The stall lasts until the memo expires, then at most one update-status interval.
        expires = memo["since"] - sim.clock_epoch + quiet_for
        sim.run_until(expires + latest_update_status + 60.0)
        check_quiesced(sim)
        grants = [t for t, _ in sim.app_data_history_of("coordinator") if t > retried.time]
        assert grants, "the leader never wrote the databag after its refresh"
        assert expires <= grants[0] <= expires + latest_update_status + 5.0
        took_over = [
            c.time
            for c in sim.tool_calls
            if c.unit == unit
            and c.argv[0] == "juju-log"
            and any("from leader settings" in a for a in c.argv)
        ]
        assert took_over, "the new leader never took over the original's grant"
        assert expires <= took_over[0]
        check_max_concurrency(sim.journal, 1)
        check_all_requesters_acted(sim.journal, sim.units, since=since)
