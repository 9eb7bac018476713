"""The randomized fault campaign (fuzz.py): a deterministic CI slice, and its checkers.

`make fuzz` runs the large campaign; here a fixed slice of its seeds runs on
every `make test`, and a negative control shows the checkers catch a charm
that does not coordinate at all.
"""

import dataclasses

import pytest

import fuzz
from jujusim.testing import run_until_work_starts

# The CI slice: fixed seeds of the campaign, chosen only by number.
SLICE = range(1, 9)


@pytest.fixture(scope="module")
def charms(built_charms):
    return {name: str(built_charms[name]) for name in (*fuzz.FIXTURES, *fuzz.CONTROLS)}


@pytest.mark.charms("rolling-restart", "policies", "held-restart", "no-coordinator")
@pytest.mark.parametrize("seed", SLICE)
def test_campaign_slice_keeps_every_invariant(charms, tmp_path, seed):
    outcome = fuzz._Run(fuzz.generate(seed), charms, str(tmp_path)).run()

    assert outcome.error == ""
    assert outcome.violations == [], fuzz.generate(seed).describe()
    assert outcome.hooks > 0


def test_schedules_are_a_function_of_their_seed():
    assert fuzz.generate(42) == fuzz.generate(42)
    drawn = [fuzz.generate(seed) for seed in range(1, 200)]
    kinds = {kind for s in drawn for _, kind, _ in s.faults}
    assert kinds == set(fuzz.FAULT_KINDS)
    assert {s.fixture for s in drawn} == set(fuzz.FIXTURES)
    assert {s.units for s in drawn} == set(range(2, 8))
    points = {p["point"] for s in drawn for _, k, p in s.faults if k == "hook-failure"}
    assert points == set(fuzz.FAIL_POINTS)


@pytest.mark.charms("rolling-restart", "policies", "held-restart", "no-coordinator")
def test_checkers_catch_a_charm_that_restarts_without_coordinating(charms, tmp_path):
    schedule = dataclasses.replace(
        fuzz.generate(1),
        fixture="no-coordinator",
        units=3,
        faults=[],
        clock_skew={},
        roll_at=None,
    )

    outcome = fuzz._Run(schedule, charms, str(tmp_path)).run()

    kinds = {invariant for invariant, _ in outcome.violations}
    assert "concurrency" in kinds
    assert "granted-without-grant" in kinds


@pytest.mark.charms("rolling-restart", "policies", "held-restart", "no-coordinator")
@pytest.mark.parametrize("honour_guarantee", [False, True])
def test_leader_losing_its_lease_inside_its_own_guarded_work_is_never_overlapped(
    charms, tmp_path, honour_guarantee
):
    # The leader asks in config-changed, grants itself at once and works for
    # 30 s; its lease lapses meanwhile (abruptly: a controller fault; or when
    # Juju's 30 s promise ends) and a new leader is elected, who must not
    # grant the lock to anyone before the old leader has finished.
    from jujusim import Simulation
    from jujusim.invariants import check_max_concurrency, check_quiesced

    with Simulation(
        charms["rolling-restart"], units=3, seed=5, backend="fork", workdir=str(tmp_path)
    ) as sim:
        check_quiesced(sim)
        leader = sim.leader
        sim.set_config(generation=1)
        run_until_work_starts(sim, leader)
        sim.run_for(1.0)
        sim.expire_lease(honour_guarantee=honour_guarantee)
        check_quiesced(sim)

        assert sim.leader != leader
        assert check_max_concurrency(sim.journal, 1) == 1
        assert sorted({e.unit for e in sim.journal}) == sorted(sim.units)


def _slice(path, seeds, violation_at=None, charms=None):
    outcomes = []
    for seed in seeds:
        o = fuzz.Outcome(seed, hooks=10)
        o.faults["hook-failure"] = 1
        if seed == violation_at:
            o.violations.append(("concurrency", "2 units at t=1.0"))
        outcomes.append(fuzz._jsonable(o))
    data = {"elapsed": 5.0, "outcomes": outcomes}
    if charms:
        data["charms"] = charms
    path.write_text(fuzz.json.dumps(data))
    return str(path)


def test_merged_slices_report_like_one_campaign(tmp_path, capsys):
    a = _slice(tmp_path / "a.json", range(1, 4), charms={"rolling-restart": "rolling-restart-k1"})
    b = _slice(tmp_path / "b.json", range(4, 6), violation_at=5)

    assert fuzz.main(["--merge", a, b]) == 1

    out = capsys.readouterr().out
    assert "slices merged: 2; seeds 1-5" in out
    assert "charm builds: (not recorded), rolling-restart-k1" in out
    assert "schedules tried: 5 (50 hooks, 10 s" in out
    assert "  hook-failure                5" in out
    assert "  concurrency                 1" in out
    assert "seed 5:" in out  # the failing schedule is described


def test_merge_refuses_slices_that_overlap(tmp_path, capsys):
    a = _slice(tmp_path / "a.json", range(1, 4))
    b = _slice(tmp_path / "b.json", range(3, 6))

    with pytest.raises(SystemExit) as e:
        fuzz.main(["--merge", a, b])

    assert e.value.code == 2
    assert "seed 3 is in both" in capsys.readouterr().err


def test_merged_clean_slices_exit_zero(tmp_path, capsys):
    a = _slice(tmp_path / "a.json", [7, 9])

    assert fuzz.main(["--merge", a]) == 0
    assert "seeds 7, 9" in capsys.readouterr().out
