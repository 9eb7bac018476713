"""Hook processes read the simulated wall clock: reproducible, and skewable per unit."""

import datetime

import pytest

from jujusim import Simulation, SimulationError
from jujusim.testing import scripted_charm

STAMP_PLAN = """
import datetime, time

def config_changed(h):
    h.log('told')
    h.rset(rid='coordinator:0', epoch=repr(time.time()),
           first=datetime.datetime.utcnow().isoformat(),
           second=datetime.datetime.utcnow().isoformat(),
           aware=datetime.datetime.now(datetime.timezone.utc).isoformat(),
           today=datetime.date.today().isoformat())

def coordinator_relation_changed(h):
    key = 'saw-' + h.remote.replace('/', '-')
    if h.rget(key, h.unit) is None:
        h.rset(rid='coordinator:0', **{key: datetime.datetime.utcnow().isoformat()})
"""


def run_stamps(tmp_path, name, backend="exec", seed=3, **kw):
    charm = scripted_charm(tmp_path / ("charm-" + name), STAMP_PLAN)
    with Simulation(
        charm, units=3, seed=seed, backend=backend, workdir=str(tmp_path / ("work-" + name)), **kw
    ) as sim:
        sim.run_until_quiet()
        sim.set_config(generation=1)
        sim.run_until_quiet()
        told = {r.unit: r.time for r in sim.logs if r.message == "told"}
        return (
            [r.key() for r in sim.trace],
            [c.key() for c in sim.tool_calls],
            sim.relation_data(),
            told,
        )


def test_the_same_seed_gives_the_same_timestamps_and_tool_call_arguments(tmp_path):
    first = run_stamps(tmp_path, "a")
    second = run_stamps(tmp_path, "b")
    assert first[:3] == second[:3]
    stamps = [
        argv
        for _, _, argv, _, _ in first[1]
        if "relation-set" in argv and any(a.startswith("first=2026-01-01T00:") for a in argv)
    ]
    assert len(stamps) == 6  # config-changed at start and after set_config, per unit


def test_exec_and_fork_hooks_read_the_same_clock(tmp_path):
    assert run_stamps(tmp_path, "exec")[:3] == run_stamps(tmp_path, "fork", backend="fork")[:3]


def test_successive_reads_differ_and_keep_their_order(tmp_path):
    _, _, data, _ = run_stamps(tmp_path, "a")
    for settings in data.values():
        assert settings["first"] < settings["second"]
        aware = datetime.datetime.fromisoformat(settings["aware"])
        assert aware.tzinfo is not None
        assert aware.date().isoformat() == settings["today"]


def test_a_hook_reads_epoch_plus_the_simulated_time_it_was_last_told(tmp_path):
    _, _, data, told = run_stamps(tmp_path, "a", clock_epoch=1000000000.0)
    for unit, settings in data.items():
        assert float(settings["epoch"]) == pytest.approx(1000000000.0 + told[unit], abs=1e-6)


def test_clock_skew_shifts_one_units_timestamps(tmp_path):
    _, _, plain, told = run_stamps(tmp_path, "plain")
    _, _, skewed, told_skewed = run_stamps(tmp_path, "skewed", clock_skew={"scripted/2": -30.0})
    for unit in ("scripted/0", "scripted/1", "scripted/2"):
        shift = -30.0 if unit == "scripted/2" else 0.0
        expected = 1767225600.0 + told_skewed[unit] + shift
        assert float(skewed[unit]["epoch"]) == pytest.approx(expected, abs=1e-6)
    assert told == told_skewed  # skew moves the unit's clock, not the simulation


def test_set_clock_skew_applies_from_the_units_next_tool_call(tmp_path):
    charm = scripted_charm(tmp_path / "charm", STAMP_PLAN)
    with Simulation(charm, units=2, seed=1, workdir=str(tmp_path / "work")) as sim:
        sim.run_until_quiet()
        sim.set_clock_skew("scripted/1", 3600.0)
        sim.set_config(generation=1)
        start = len(sim.logs)
        sim.run_until_quiet()
        told = {r.unit: r.time for r in sim.logs[start:] if r.message == "told"}
        for unit, shift in (("scripted/0", 0.0), ("scripted/1", 3600.0)):
            stamp = float(sim.relation_settings(unit)["epoch"])
            assert stamp == pytest.approx(1767225600.0 + told[unit] + shift, abs=1e-6)
            assert sim.wall_clock(unit) == pytest.approx(1767225600.0 + sim.now + shift)


def test_a_skew_for_something_that_is_not_a_unit_is_rejected(tmp_path):
    charm = scripted_charm(tmp_path / "charm")
    with pytest.raises(SimulationError, match="not a unit name"):
        Simulation(charm, units=1, workdir=str(tmp_path / "work"), clock_skew={"other/0": 1})
