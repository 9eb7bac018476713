"""jujusim is deterministic, its two backends agree, and hooks are isolated."""

import os
import shutil

import pytest

from jujusim import (
    JUJU_3_6,
    At,
    HookLoopError,
    Scenario,
    Simulation,
    SimulationError,
    by_name,
    check_max_concurrency,
    guarded_intervals,
    run_scenario,
)
from jujusim.testing import basic_layer_charm, fixture_charm, scripted_charm

BUSY_PLAN = """
def config_changed(h):
    h.rset(rid='coordinator:0', generation=str(h.json('config-get', 'generation')))
    if h.is_leader():
        h.lset(generation=str(h.json('config-get', 'generation')))

def coordinator_relation_changed(h):
    h.log('%s sees %s' % (h.unit, h.rget('generation')))
"""


def keys(sim):
    return [r.key() for r in sim.trace], [c.key() for c in sim.tool_calls]


def run_scripted(tmp_path, name, seed, backend="exec", units=3):
    charm = scripted_charm(tmp_path / ("charm-" + name), BUSY_PLAN)
    with Simulation(
        charm, units=units, seed=seed, backend=backend, workdir=str(tmp_path / ("work-" + name))
    ) as sim:
        sim.run_until_quiet()
        sim.set_config(generation=1)
        sim.run_until_quiet()
        return keys(sim)


def test_the_same_seed_gives_the_same_traces(tmp_path):
    assert run_scripted(tmp_path, "a", seed=7) == run_scripted(tmp_path, "b", seed=7)


def test_another_seed_gives_another_interleaving(tmp_path):
    assert run_scripted(tmp_path, "a", seed=7)[0] != run_scripted(tmp_path, "b", seed=8)[0]


def roll(charm, workdir, backend):
    """Deploy ``charm`` on 3 units, change its config, settle; what the run did."""
    with Simulation(charm, units=3, seed=11, backend=backend, workdir=str(workdir)) as sim:
        sim.run_until_quiet()
        sim.set_config(generation=1)
        sim.run_until_quiet()
        flags = {u: sim.flags(u) for u in sim.units}
        return keys(sim), flags, sim.leader_settings(), sim.relation_data()


def assert_same_run(exec_run, fork_run):
    assert exec_run[0][0] == fork_run[0][0]  # hook sequence
    assert exec_run[0][1] == fork_run[0][1]  # tool-call sequence
    assert exec_run[1:] == fork_run[1:]  # flags, leader and relation data
    assert all("peer.restarted" in f for f in exec_run[1].values())


def test_exec_and_fork_backends_give_identical_traces_for_a_reactive_charm(tmp_path):
    charm = fixture_charm("reactive-peer")
    assert_same_run(
        roll(charm, tmp_path / "work-exec", "exec"), roll(charm, tmp_path / "work-fork", "fork")
    )


def test_exec_and_fork_backends_give_identical_traces_for_a_charm_built_on_layer_basic(tmp_path):
    runs = [
        roll(basic_layer_charm(tmp_path / ("charm-" + b)), tmp_path / ("work-" + b), b)
        for b in ("exec", "fork")
    ]
    assert_same_run(*runs)


REGISTRATIONS_HANDLER = """
from charmhelpers.core import hookenv
from charms.reactive import hook


@hook("install")
def log_registrations():
    names = [getattr(cb, "__qualname__", repr(cb)) for cb, _, _ in hookenv._atexit]
    hookenv.log("atexit: " + " ".join(names))
"""


def registered_at_install(tmp_path, backend):
    charm = basic_layer_charm(tmp_path / ("charm-" + backend))
    with open(os.path.join(charm, "reactive", "registrations.py"), "w") as f:
        f.write(REGISTRATIONS_HANDLER)
    with Simulation(charm, units=1, backend=backend, workdir=str(tmp_path / backend)) as sim:
        sim.run_until_quiet()
        return [r.message for r in sim.logs if r.message.startswith("atexit: ")]


def test_a_forked_hook_registers_its_callbacks_in_the_order_of_an_executed_one(tmp_path):
    exec_names = registered_at_install(tmp_path, "exec")
    fork_names = registered_at_install(tmp_path, "fork")
    assert fork_names == exec_names
    # layer:basic's template registers clear_config_states before it imports
    # charms.reactive, so it comes first and runs last.
    assert exec_names[0].split()[1] == "clear_config_states"


ISOLATION_PLAN = """
import json, os
def install(h):
    os.environ['JUJUSIM_LEAK'] = 'yes'
    json.jujusim_leak = True

def start(h):
    h.log('env=%s module=%s' % (os.environ.get('JUJUSIM_LEAK'), hasattr(json, 'jujusim_leak')))
"""


@pytest.mark.parametrize("backend", ["exec", "fork"])
def test_nothing_leaks_from_one_hook_process_to_the_next(tmp_path, backend):
    charm = scripted_charm(tmp_path / "charm", ISOLATION_PLAN)
    with Simulation(charm, units=1, backend=backend, workdir=str(tmp_path / "w")) as sim:
        sim.run_until_quiet()
        assert [r.message for r in sim.logs if r.hook == "start"] == ["env=None module=False"]


OUTPUT_PLAN = """
import sys
def any_hook(h):
    print('stdout of %s' % h.name, flush=True)
    print('stderr of %s' % h.name, file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("backend", ["exec", "fork"])
def test_each_hook_record_holds_that_hooks_output_only(tmp_path, backend):
    charm = scripted_charm(tmp_path / "charm", OUTPUT_PLAN)
    with Simulation(charm, units=2, seed=3, backend=backend, workdir=str(tmp_path / "w")) as sim:
        sim.run_until_quiet()
        ends = [r for r in sim.trace if r.unit == "scripted/1" and r.event != "begin"]
    assert len(ends) >= 3
    for record in ends[1:3]:  # the 2nd and 3rd hooks: after the first one's output
        assert record.output == "stdout of %s\nstderr of %s\n" % (record.hook, record.hook)
    assert all(r.output.count("stdout of ") == 1 for r in ends)


QUIRKS_PLAN = """
def install(h):
    from charmhelpers.core import host, hookenv
    h.log('juju>=1.23 %s, version %s' % (hookenv.has_juju_version('1.23'),
                                         hookenv.juju_version()))
"""


@pytest.mark.parametrize("backend", ["exec", "fork"])
def test_charmhelpers_imports_host_and_finds_the_fake_jujud(tmp_path, backend):
    charm = scripted_charm(tmp_path / "charm", QUIRKS_PLAN)
    with Simulation(charm, units=1, backend=backend, workdir=str(tmp_path / "w")) as sim:
        sim.run_until_quiet()
        assert [r.message for r in sim.logs] == ["juju>=1.23 True, version 2.9.49-ubuntu-amd64"]
        assert os.path.exists(str(tmp_path / "w/var/lib/juju/tools/machine-0/jujud"))


def test_a_hook_killed_after_its_guarded_work_is_retried_and_redoes_it(tmp_path):
    with Simulation(
        fixture_charm("reactive-peer"),
        units=2,
        seed=2,
        backend="fork",
        workdir=str(tmp_path / "w"),
    ) as sim:
        sim.run_until_quiet()
        sim.fail_next_hook("reactive-peer/1", after_journal_end=True)
        sim.set_config(generation=1)
        sim.run_until_quiet()
        failed = [r for r in sim.trace if r.event == "fail"]
        assert [(r.unit, r.hook, r.exit_code) for r in failed] == [
            ("reactive-peer/1", "config-changed", -9)
        ]
        ends = [j for j in sim.journal if j.unit == "reactive-peer/1" and j.event == "end"]
        assert len(ends) == 3  # startup restart, the killed one, the retried one
        assert "peer.restarted" in sim.flags("reactive-peer/1")
        assert sim.relation_settings("reactive-peer/1")["generation"] == "1"


def new_revision(charm, dest):
    """A copy of `charm` at `dest` with a VERSION file: the same charm, another revision."""
    shutil.copytree(charm, str(dest))
    (dest / "VERSION").write_text("2\n")
    return dest


def test_upgrade_charm_replaces_files_but_keeps_unit_state(tmp_path):
    new = new_revision(fixture_charm("reactive-peer"), tmp_path / "v2")
    with Simulation(
        fixture_charm("reactive-peer"),
        units=2,
        seed=4,
        backend="fork",
        workdir=str(tmp_path / "w"),
    ) as sim:
        sim.run_until_quiet()
        start = len(sim.trace)
        sim.upgrade_charm(str(new))
        sim.run_until_quiet()
        for unit in sim.units:
            hooks = [r.hook for r in sim.trace[start:] if r.unit == unit and r.event == "commit"]
            assert hooks[:2] == ["upgrade-charm", "config-changed"]
            assert "peer.installed" in sim.flags(unit)
            assert os.path.exists(os.path.join(sim.unit_dir(unit), "VERSION"))


@pytest.mark.parametrize("juju", ["3.6", "4"])
def test_after_upgrade_charm_a_non_leader_runs_leader_settings_changed_on_3_6_only(tmp_path, juju):
    # The deploy restarts the uniter's loop with a fresh LocalState: the queued
    # config-changed runs first, then a 3.6 non-leader's leader-settings
    # version (0) differs and its leadership resolver runs the hook; the
    # leader's flag is persisted (no leader-elected); Juju 4 has no such hook.
    # (reactive-peer writes leader settings: on Juju 4 its hooks fail.)
    charm = scripted_charm(tmp_path / "charm", "")
    new = new_revision(charm, tmp_path / "v2")
    with Simulation(
        charm,
        units=3,
        seed=4,
        backend="fork",
        workdir=str(tmp_path / "w"),
        profile=by_name(juju),
    ) as sim:
        sim.run_until_quiet()
        start = len(sim.trace)
        sim.upgrade_charm(str(new))
        sim.run_until_quiet()
        for unit in sim.units:
            hooks = [r.hook for r in sim.trace[start:] if r.unit == unit and r.event == "commit"]
            if unit == sim.leader or juju == "4":
                expected = ["upgrade-charm", "config-changed"]
            else:
                expected = ["upgrade-charm", "config-changed", "leader-settings-changed"]
            assert hooks[: len(expected)] == expected, unit
            assert "leader-elected" not in hooks
            assert hooks.count("leader-settings-changed") == len(expected) - 2


def test_a_3_6_non_leader_refreshed_in_error_runs_leader_settings_changed_after_its_retry(
    tmp_path,
):
    # Every deploy restarts the resolver loop with a fresh LocalState, the one
    # that gives a unit in error the new files too (wrapUpgradeOp).
    charm = scripted_charm(tmp_path / "charm", "def config_changed(h):\n    h.log('x')\n")
    new = new_revision(charm, tmp_path / "v2")
    with Simulation(
        charm, units=2, seed=4, backend="fork", workdir=str(tmp_path / "w"), profile=JUJU_3_6
    ) as sim:
        sim.run_until_quiet()
        broken = next(u for u in sim.units if u != sim.leader)
        sim.fail_next_hook(broken, after_journal_end=False)
        sim.set_config(generation=1)
        sim.run_until_quiet(retries=False)
        assert sim.in_error(broken)
        start = len(sim.trace)

        sim.upgrade_charm(str(new))
        sim.run_until_quiet()

        hooks = [r.hook for r in sim.trace[start:] if r.unit == broken and r.event == "commit"]
        assert hooks[:2] == ["config-changed", "leader-settings-changed"]
        assert "upgrade-charm" not in hooks


def test_a_refresh_reaches_the_units_a_scenario_names_and_the_others_later(tmp_path):
    new = new_revision(fixture_charm("reactive-peer"), tmp_path / "v2")
    with Simulation(
        fixture_charm("reactive-peer"),
        units=3,
        seed=4,
        backend="fork",
        workdir=str(tmp_path / "w"),
    ) as sim:
        sim.run_until_quiet()
        first, *later = sim.units
        start = len(sim.trace)

        sim.upgrade_charm(str(new), units=[first])
        sim.run_until_quiet()

        upgraded = {r.unit for r in sim.trace[start:] if r.hook == "upgrade-charm"}
        assert upgraded == {first}
        assert [os.path.exists(os.path.join(sim.unit_dir(u), "VERSION")) for u in sim.units] == [
            True,
            False,
            False,
        ]

        sim.upgrade_charm(fixture_charm("reactive-peer"), units=[later[0]])  # and back
        sim.run_until_quiet()
        assert not os.path.exists(os.path.join(sim.unit_dir(later[0]), "VERSION"))
        assert os.path.exists(os.path.join(sim.unit_dir(first), "VERSION"))  # not told yet

        start = len(sim.trace)
        sim.deliver_charm([first, later[1]])
        sim.run_until_quiet()

        upgraded = sorted(
            r.unit for r in sim.trace[start:] if r.hook == "upgrade-charm" and r.event == "commit"
        )
        assert upgraded == sorted([first, later[1]])
        assert not any(os.path.exists(os.path.join(sim.unit_dir(u), "VERSION")) for u in sim.units)


def test_a_unit_in_error_gets_a_refresh_without_upgrade_charm(tmp_path):
    # Juju restores the failed hook and retries it on the new charm's code;
    # upgrade-charm never runs there (`juju refresh --force-units`, and the
    # resolver's loop restart after a failed retry).
    new = new_revision(fixture_charm("reactive-peer"), tmp_path / "v2")
    with Simulation(
        fixture_charm("reactive-peer"),
        units=2,
        seed=4,
        backend="fork",
        workdir=str(tmp_path / "w"),
    ) as sim:
        sim.run_until_quiet()
        broken = sim.units[1]
        sim.fail_next_hook(broken, after_journal_end=False)
        sim.set_config(generation=1)
        while not sim.in_error(broken):
            sim.run_for(0.5)
        start = len(sim.trace)

        sim.upgrade_charm(str(new))
        sim.run_until_quiet()

        commits = [(r.unit, r.hook) for r in sim.trace[start:] if r.event == "commit"]
        assert (broken, "config-changed") in commits  # the failed hook, retried
        assert (broken, "upgrade-charm") not in commits
        assert (sim.units[0], "upgrade-charm") in commits
        assert os.path.exists(os.path.join(sim.unit_dir(broken), "VERSION"))


def test_a_hook_loop_is_reported_with_the_looping_hook(tmp_path):
    charm = scripted_charm(
        tmp_path / "charm",
        """
        def coordinator_relation_changed(h):
            h.rset(n=str(int(h.rget('n', h.unit) or 0) + 1))
    """,
    )
    with Simulation(charm, units=2, workdir=str(tmp_path / "w"), backend="fork") as sim:
        with pytest.raises(HookLoopError, match="coordinator-relation-changed"):
            sim.run_until_quiet(max_hooks=60)


def test_impossible_scenarios_are_rejected_up_front(tmp_path):
    charm = scripted_charm(tmp_path / "charm")
    with pytest.raises(SimulationError, match="at least one unit"):
        Simulation(charm, units=0)
    with pytest.raises(SimulationError, match="bogus"):
        Simulation(charm, units=1, config={"bogus": 1})
    with Simulation(charm, units=1, workdir=str(tmp_path / "w")) as sim:
        with pytest.raises(SimulationError, match="scripted/9"):
            sim.remove_unit("scripted/9")
        with pytest.raises(SimulationError, match="no action"):
            sim.run_action("scripted/0", "nope")


def test_entry_points_do_not_mutate_their_inputs(tmp_path):
    charm = scripted_charm(tmp_path / "charm")
    config = {"generation": 3}
    params = {"text": "x"}
    with Simulation(charm, units=1, config=config, workdir=str(tmp_path / "w")) as sim:
        sim.run_action("scripted/0", "echo", params)
        sim.run_until_quiet()
        sim.state.config["generation"] = 99
        assert sim.state.config["generation"] == 3
    assert config == {"generation": 3}
    assert params == {"text": "x"}


def test_a_declarative_scenario_runs_timed_events(tmp_path):
    result = run_scenario(
        Scenario(
            charm_dir=fixture_charm("reactive-peer"),
            units=3,
            seed=5,
            backend="fork",
            events=[
                At(100.0, "set_config", kwargs={"generation": 2}),
                At(200.0, "remove_unit", ("reactive-peer/2",)),
            ],
        ),
        workdir=str(tmp_path / "w"),
    )
    assert sorted(result.flags) == ["reactive-peer/0", "reactive-peer/1"]
    restarts = [iv for iv in guarded_intervals(result.journal) if iv.start >= 100.0]
    assert sorted(iv.unit for iv in restarts) == [
        "reactive-peer/0",
        "reactive-peer/1",
        "reactive-peer/2",
    ]
    assert check_max_concurrency(result.journal, allowed=3) >= 1


def test_the_python_shim_serves_tools_like_the_c_shim(tmp_path):
    def run(shim):
        charm = scripted_charm(tmp_path / ("charm-" + shim), BUSY_PLAN)
        with Simulation(
            charm, units=2, seed=3, shim=shim, workdir=str(tmp_path / ("w-" + shim))
        ) as sim:
            sim.run_until_quiet()
            return keys(sim), sim.tool_call_counts()

    c_run, py_run = run("c"), run("python")
    assert c_run[0] == py_run[0]
    assert [n for *_, n in c_run[1]] == [n for *_, n in py_run[1]]
    assert sum(n for *_, n in c_run[1]) > 0
