"""Leadership moving to a unit whose relation-list does not show every peer yet.

Juju runs a new leader's leader-elected before its pending relation hooks, so
a unit added to the application and elected at once lists none of its peers:
they are in the relation, but its agent has not run relation-joined for them.
The layer's leader must not take that for their departure and hand on a lock
whose holder is still working. (The same rule with a fake model, and the
other membership cases, are in tests/unit/test_membership.py.)
"""

import pytest

from jujusim import Simulation
from jujusim.invariants import check_all_requesters_acted, check_max_concurrency, check_quiesced
from jujusim.testing import run_until_work_starts


@pytest.mark.charms("policies")
@pytest.mark.first_variant_on_3_6
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unit_added_and_elected_at_once_keeps_the_working_holders_grant(
    built_charms, tmp_path, seed, juju
):
    # policies: one at a time, the leader last, so a non-leader works first.
    with Simulation(
        str(built_charms["policies"]),
        units=3,
        seed=seed,
        backend="fork",
        workdir=str(tmp_path),
        profile=juju,
    ) as sim:
        _add_a_unit_and_elect_it_while_someone_works(sim)


def _add_a_unit_and_elect_it_while_someone_works(sim):
    check_quiesced(sim)
    old_leader = sim.leader
    since = sim.now
    sim.set_config(generation=1)
    worker = run_until_work_starts(sim)
    assert worker != old_leader

    newcomer = sim.add_unit()
    while not any(h == "coordinator-relation-created" for _, h, _, _ in sim.hooks(newcomer)):
        sim.run_for(0.1)
    sim.expire_lease(successor=newcomer)
    deadline = sim.now + 60.0
    while "leader-elected" not in [h for _, h, _, _ in sim.hooks(newcomer)]:
        assert sim.now < deadline, "the newcomer never ran leader-elected"
        sim.run_for(0.1)

    assert sim.leader == newcomer
    first_hooks = [h for _, h, _, _ in sim.hooks(newcomer)]
    assert "coordinator-relation-joined" not in first_hooks  # it lists no peer yet
    assert not any(e.unit == worker and e.event == "end" for e in sim.journal)  # still working
    check_quiesced(sim)
    assert check_max_concurrency(sim.journal, 1) == 1
    check_all_requesters_acted(sim.journal, [u for u in sim.units if u != newcomer], since=since)
