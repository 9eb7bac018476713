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


@pytest.mark.charms("held-restart")
def test_leader_whose_hook_dies_after_it_granted_itself_keeps_the_lock_through_the_retry(
    charms, tmp_path
):
    # The leader asks in config-changed, grants itself at once (the grant is
    # published) and begins its held restart; the hook then dies at its
    # relation-set, which rolls its request back. The retry redoes the
    # restart under the same grant, and every unit restarts in turn. (Here
    # the retry sees no peer's request yet; seed 1514 below is the case
    # where it does, which the layer once got wrong.)
    from jujusim import Simulation
    from jujusim.invariants import check_quiesced

    with Simulation(
        charms["held-restart"],
        units=3,
        seed=3,
        backend="fork",
        update_status=True,
        workdir=str(tmp_path),
    ) as sim:
        check_quiesced(sim)
        leader = sim.leader
        sim.fail_next_hook(leader, "tool:relation-set")
        sim.set_config(generation=1)
        sim.run_for(3000)
        check_quiesced(sim)

        failed = [r for r in sim.trace if r.event == "fail"]
        assert [r.unit for r in failed] == [leader]
        first = [e for e in sim.journal if e.event == "start"][0]
        assert (first.unit, first.time) == (leader, min(e.time for e in sim.journal))
        assert first.time < failed[0].time  # the restart began in the failed hook
        intervals = fuzz._intervals(sim.journal)
        assert sorted(u for _, _, u, _ in intervals) == sorted(sim.units)
        ordered = sorted((start, end) for start, end, _, _ in intervals)
        for (_, end), (next_start, _) in zip(ordered, ordered[1:]):
            assert end <= next_start  # one unit at a time
        assert sim.leader_settings().get("coordinator") in (None, "{}")


@pytest.mark.charms("rolling-restart", "policies", "held-restart", "no-coordinator")
def test_campaign_seed_1514_leader_failing_after_its_self_grant_is_never_overlapped(
    charms, tmp_path
):
    # Found by the campaign: the leader granted itself, began its held
    # restart, and its hook died at relation-set; the retry took the grant as
    # released and granted another unit while the restart was still on.
    outcome = fuzz._Run(fuzz.generate(1514), charms, str(tmp_path)).run()

    assert outcome.faults["hook-failure"] == 1
    assert (outcome.error, outcome.violations, outcome.explained) == ("", [], [])


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


def test_slices_cover_the_campaign_in_order():
    assert fuzz.plan_slices(1, 250, 100) == [(1, 100), (101, 200), (201, 250)]
    assert fuzz.plan_slices(5001, 100, 100) == [(5001, 5100)]
    with pytest.raises(ValueError, match="at least one seed"):
        fuzz.plan_slices(1, 10, 0)


class _Runner:
    """Stands in for run_schedule: records the seeds it ran; can die at one seed."""

    def __init__(self, die_at=None):
        self.ran = []
        self.die_at = die_at

    def __call__(self, seed, charms):
        if seed == self.die_at:
            raise KeyboardInterrupt  # the campaign is killed mid-slice
        self.ran.append(seed)
        return fuzz.Outcome(seed, hooks=3, faults=fuzz.Counter({"unit-added": 1}))


BUILDS = {"rolling-restart": "/cache/rolling-restart-k1", "policies": "/cache/policies-k2"}


def test_sliced_campaign_writes_each_slice_and_reports_them_together(tmp_path):
    runner = _Runner()

    text, code = fuzz.run_slices(str(tmp_path), 1, 25, 10, BUILDS, jobs=1, runner=runner)

    assert code == 0
    assert runner.ran == list(range(1, 26))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "seeds-00001-00010.json",
        "seeds-00011-00020.json",
        "seeds-00021-00025.json",
    ]
    data = fuzz.json.loads((tmp_path / "seeds-00011-00020.json").read_text())
    assert data["charms"] == {"policies": "policies-k2", "rolling-restart": "rolling-restart-k1"}
    assert [o["seed"] for o in data["outcomes"]] == list(range(11, 21))
    assert "slices merged: 3; seeds 1-25" in text
    assert "schedules tried: 25 (75 hooks" in text
    assert "  unit-added                 25" in text


def test_sliced_campaign_resumes_after_being_killed_and_reruns_nothing_done(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        fuzz.run_slices(str(tmp_path), 1, 30, 10, BUILDS, jobs=1, runner=_Runner(die_at=15))
    # The slice being run when it died left no file, not even a partial one.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seeds-00001-00010.json"]

    runner = _Runner()
    text, code = fuzz.run_slices(str(tmp_path), 1, 30, 10, BUILDS, jobs=1, runner=runner)

    assert runner.ran == list(range(11, 31))
    assert "schedules tried: 30" in text

    again = _Runner()
    fuzz.run_slices(str(tmp_path), 1, 30, 10, BUILDS, jobs=1, runner=again)
    assert again.ran == []


def test_sliced_campaign_reruns_slices_of_other_builds_or_broken_files(tmp_path, monkeypatch):
    fuzz.run_slices(str(tmp_path), 1, 30, 10, BUILDS, jobs=1, runner=_Runner())
    (tmp_path / "seeds-00021-00030.json").write_text('{"outcomes": [')  # truncated
    changed = dict(BUILDS, policies="/cache/policies-k3")

    runner = _Runner()
    fuzz.run_slices(str(tmp_path), 21, 10, 10, BUILDS, jobs=1, runner=runner)
    assert runner.ran == list(range(21, 31))

    runner = _Runner()
    text, _ = fuzz.run_slices(str(tmp_path), 1, 30, 10, changed, jobs=1, runner=runner)
    assert runner.ran == list(range(1, 31))  # another layer: every slice runs again
    assert "charm builds: policies-k3, rolling-restart-k1" in text

    monkeypatch.setattr(fuzz, "harness_key", lambda: "another-simulator")
    runner = _Runner()
    text, _ = fuzz.run_slices(str(tmp_path), 1, 10, 10, changed, jobs=1, runner=runner)
    assert runner.ran == list(range(1, 11))  # another simulator: the slice runs again
    assert "(harness key): another-simulator" in text


def test_harness_key_follows_the_simulator_and_the_schedule_generator(tmp_path):
    import shutil
    from pathlib import Path

    here = Path(fuzz.__file__).parent
    copy = tmp_path / "functional"
    shutil.copytree(here / "jujusim", copy / "jujusim")
    shutil.copy(here / "fuzz.py", copy / "fuzz.py")
    key = fuzz.harness_key()
    assert fuzz.harness_key(str(copy)) == key

    (copy / "jujusim" / "__pycache__").mkdir(exist_ok=True)
    (copy / "jujusim" / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    assert fuzz.harness_key(str(copy)) == key  # caches are not the simulator

    agent = copy / "jujusim" / "agent.py"
    agent.write_text(agent.read_text() + "\n# changed\n")
    changed = fuzz.harness_key(str(copy))
    assert changed != key

    generator = copy / "fuzz.py"
    generator.write_text(generator.read_text() + "\n# changed\n")
    assert fuzz.harness_key(str(copy)) not in (key, changed)


def _marking_runner(seed, charms):
    """A picklable stand-in for run_schedule: marks each seed it ran in charms["marks"]."""
    import time
    from pathlib import Path

    time.sleep(0.05)
    (Path(charms["marks"]) / str(seed)).touch()
    return fuzz.Outcome(seed, hooks=1)


def test_sliced_campaign_on_a_process_pool_writes_slices_in_seed_order(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "slices"

    text, code = fuzz.run_slices(
        str(out), 1, 20, 5, {"marks": str(marks)}, jobs=2, runner=_marking_runner
    )

    assert code == 0
    assert sorted(int(p.name) for p in marks.iterdir()) == list(range(1, 21))
    for a in (1, 6, 11, 16):
        data = fuzz.json.loads((out / ("seeds-%05d-%05d.json" % (a, a + 4))).read_text())
        assert [o["seed"] for o in data["outcomes"]] == list(range(a, a + 5))
    assert "schedules tried: 20 (20 hooks" in text


def test_a_failed_slice_write_leaves_no_file_and_cancels_the_seeds_not_started(
    tmp_path, monkeypatch
):
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "slices"
    calls = []

    def broken(outcome):
        calls.append(outcome.seed)
        if len(calls) == 3:
            raise OSError("disk full")
        return {"seed": outcome.seed}

    monkeypatch.setattr(fuzz, "_jsonable", broken)

    with pytest.raises(OSError, match="disk full"):
        fuzz.run_slices(str(out), 1, 60, 10, {"marks": str(marks)}, jobs=2, runner=_marking_runner)

    assert list(out.iterdir()) == []  # neither the slice nor a partial file
    assert len(list(marks.iterdir())) < 30  # the queued seeds were cancelled, not run


def test_the_grant_check_counts_a_leader_that_can_no_longer_renew_as_a_minion():
    from types import SimpleNamespace

    sim = SimpleNamespace(
        leader_history=[(0.0, "app/0"), (40.0, None), (45.0, "app/0")],
        renewal_lost_history=[(10.0, "app/0", 1)],
    )
    run = SimpleNamespace(sim=sim)

    assert fuzz._Run._leader_at(run, 5.0) == "app/0"
    assert fuzz._Run._leader_at(run, 10.0) is None  # its is-leader says false from here
    assert fuzz._Run._leader_at(run, 30.0) is None
    assert fuzz._Run._leader_at(run, 42.0) is None
    assert fuzz._Run._leader_at(run, 50.0) == "app/0"  # a new lease, renewable again


def test_sliced_campaign_exits_one_on_a_violation(tmp_path):
    class Failing(_Runner):
        def __call__(self, seed, charms):
            outcome = super().__call__(seed, charms)
            if seed == 4:
                outcome.violations.append(("concurrency", "2 units at t=3.0"))
            return outcome

    text, code = fuzz.run_slices(str(tmp_path), 1, 5, 5, BUILDS, jobs=1, runner=Failing())

    assert code == 1
    assert "  concurrency                 1" in text
    assert "seed 4:" in text


def test_slice_size_below_one_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as e:
        fuzz.main(["--slices", "unused", "--slice-size", "0"])

    assert e.value.code == 2
    assert "--slice-size must be at least 1" in capsys.readouterr().err
