"""jujusim's model migration from Juju 3.6 to 4 (`Simulation.migrate`), rule by rule.

The rules and their sources are in jujusim/migration.py.
"""

import pytest

from jujusim import JUJU_3_6, SimulationError
from test_jujusim_juju4 import HELPERS, logged

PLAN = (
    HELPERS
    + """
def leader_elected(h):
    h.run('leader-set', 'granted=yes')
    app_set(h, k='v')

def config_changed(h):
    h.log('juju %s' % h.env['JUJU_VERSION'])
    if h.json('is-leader'):
        rc = h.run('leader-set', 'after=migration', 'n=' + h.env['JUJU_CONTEXT_ID'])[0]
        h.log('leader-set rc=%d' % rc)
    h.log('leader-get %s' % json.dumps(h.json('leader-get')))
"""
)


def commits_since(sim, start):
    return [(r.unit, r.hook, r.remote_unit) for r in sim.trace[start:] if r.event == "commit"]


def test_migration_drops_leader_settings_and_runs_the_burst_then_the_agents_upgrade(make_sim):
    sim = make_sim(PLAN, units=3, profile=JUJU_3_6)
    sim.run_until_quiet()
    assert sorted(sim.leader_settings()) == ["after", "granted", "n"]
    leader, start = sim.leader, len(sim.trace)

    sim.migrate(agents_after=None)
    sim.run_until_quiet()

    assert [stage for _, stage in sim.migration_history] == ["3.x agents on the 4.x controller"]
    assert sim.leader == leader  # the lease importer claims it for the 3.6 leader
    assert sim.app_data() == {"k": "v"}  # peer relation data is imported
    assert sim.leader_settings() == {}  # leader settings are not
    commits = commits_since(sim, start)
    for unit in sim.units:
        mine = [(h, r) for u, h, r in commits if u == unit]
        peers = {r for h, r in mine if h == "coordinator-relation-changed" and r}
        assert peers == set(sim.units) - {unit}  # a new version of each peer's settings
        assert mine.count(("config-changed", None)) == 1
        lsc = mine.count(("leader-settings-changed", None))
        app = mine.count(("coordinator-relation-changed", None))
        # 3.6 agents: one leader-settings-changed (a fresh local state) and the
        # bag's new version on each non-leader (3.6 skips it on the leader).
        assert (lsc, app) == ((0, 0) if unit == leader else (1, 1))
        assert ("leader-elected", None) not in mine
        assert ("install", None) not in mine
    # Still 3.6 agents: leader-get answers nothing and leader-set stores nothing.
    assert logged(sim, leader, "config-changed")[-3:] == [
        "juju 3.6.12",
        "leader-set rc=0",
        "leader-get {}",
    ]
    assert sim.leader_settings() == {}


def test_agents_upgraded_after_a_migration_run_as_juju_4(make_sim):
    plan = """
import shutil
def config_changed(h):
    h.log('juju %s leader-get at %s' % (h.env['JUJU_VERSION'], shutil.which('leader-get')))
"""
    sim = make_sim(plan, units=2, profile=JUJU_3_6)
    sim.run_until_quiet()
    sim.migrate(agents_after=30.0)
    sim.run_until_quiet()
    start = len(sim.trace)

    sim.set_config(generation=1)
    sim.run_until_quiet()

    assert [stage for _, stage in sim.migration_history] == [
        "3.x agents on the 4.x controller",
        "4.x agents",
    ]
    assert sim.migration_history[1][0] - sim.migration_history[0][0] >= 30.0
    assert sim.profile.name == "juju-4"
    for unit in sim.units:
        stage_one, stage_two = logged(sim, unit, "config-changed")[-2:]
        assert stage_one.startswith("juju 3.6.12 leader-get at /")  # the burst's, 3.x agent
        assert stage_two == "juju 4.0.1 leader-get at None"
    assert "leader-settings-changed" not in [h for _, h, _ in commits_since(sim, start)]


def test_a_hook_running_when_the_migration_starts_finishes_and_commits_first(make_sim):
    plan = """
def config_changed(h):
    h.rset(rid='coordinator:0', n=str(h.json('config-get', 'generation')))
    h.journal('start', 'work', duration=20)
    h.journal('end', 'work')
"""
    sim = make_sim(plan, units=2, profile=JUJU_3_6)
    sim.run_until_quiet()
    sim.set_config(generation=1)
    sim.run_for(5)  # both units are inside their 20 s config-changed
    assert [sim.relation_settings(u).get("n") for u in sim.units] == ["0", "0"]

    sim.migrate(agents_after=None)
    assert not sim.migration_history  # not before the running hooks are done
    sim.run_until_quiet()

    migrated_at = sim.migration_history[0][0]
    assert migrated_at >= 20
    for unit in sim.units:
        assert sim.relation_settings(unit).get("n") == "1"
        done = [
            r.time
            for r in sim.trace
            if r.unit == unit and r.hook == "config-changed" and r.event == "commit"
        ]
        assert done[-2] <= migrated_at < done[-1]  # the one running, then the burst's


def test_a_model_with_a_unit_still_upgrading_is_not_migrated(make_sim):
    sim = make_sim(units=2, profile=JUJU_3_6)
    sim.run_until_quiet()
    sim.upgrade_charm(sim._charm.path)  # every agent told, none deployed yet
    with pytest.raises(SimulationError, match="is upgrading"):
        sim.migrate()
    sim.run_until_quiet()
    sim.upgrade_charm(sim._charm.path, units=[sim.units[0]])
    sim.run_until_quiet()  # one unit deployed it, the other was not told
    with pytest.raises(SimulationError, match="unit scripted/1 is upgrading"):
        sim.migrate()
    sim.deliver_charm()
    sim.run_until_quiet()
    sim.migrate()
    with pytest.raises(SimulationError, match="migrated already"):
        sim.migrate()


def test_only_a_juju_3_model_migrates_to_juju_4(make_sim):
    from jujusim import JUJU_4

    sim = make_sim(units=1, profile=JUJU_4)
    with pytest.raises(SimulationError, match="nothing to migrate from"):
        sim.migrate()
