"""The fault campaign around the schedules (fuzz.py): slices, resuming, merging, reports."""

import json
import re
from collections import Counter

import pytest

import fuzz
from schedules import Outcome


def _slice(path, seeds, violation_at=None, charms=None, juju="4"):
    outcomes = []
    for seed in seeds:
        o = Outcome(seed, hooks=10)
        o.faults["hook-failure"] = 1
        if seed == violation_at:
            o.violations.append(("concurrency", "2 units at t=1.0"))
        outcomes.append(fuzz._jsonable(o))
    data = {"elapsed": 5.0, "outcomes": outcomes}
    if juju:
        data["juju"] = juju
    if charms:
        data["charms"] = charms
    path.write_text(json.dumps(data))
    return str(path)


def test_merged_slices_report_like_one_campaign(tmp_path, capsys):
    a = _slice(tmp_path / "a.json", range(1, 4), charms={"rolling-restart": "rolling-restart-k1"})
    b = _slice(tmp_path / "b.json", range(4, 6), violation_at=5)

    assert fuzz.main(["--merge", a, b]) == 1

    out = capsys.readouterr().out
    assert "slices merged: 2; seeds 1-5" in out
    assert "juju profile: 4 (jujusim juju-4, JUJU_VERSION 4.0.1)" in out
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


def test_merge_refuses_slices_of_different_juju_profiles(tmp_path, capsys):
    a = _slice(tmp_path / "a.json", range(1, 4), juju="3.6")
    b = _slice(tmp_path / "b.json", range(4, 6), juju="4")
    old = _slice(tmp_path / "old.json", range(6, 8), juju=None)  # before profiles were recorded

    for pair in ([a, b], [b, old]):
        with pytest.raises(SystemExit) as e:
            fuzz.main(["--merge", *pair])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "the slices ran on different Juju profiles" in err
        assert "merge one profile at a time" in err
    # It says which slice ran on which.
    with pytest.raises(ValueError, match=re.escape("(3.6: %s; 4: %s)" % (a, b))):
        fuzz.merge([b, a])


def test_merge_names_the_profile_and_refuses_another_one_asked_for(tmp_path, capsys):
    a = _slice(tmp_path / "a.json", range(1, 4), juju="3.6")
    old = _slice(tmp_path / "old.json", range(4, 6), juju=None)

    assert fuzz.main(["--merge", a, "--juju", "3.6"]) == 0
    assert "juju profile: 3.6 (jujusim juju-3.6, JUJU_VERSION 3.6." in capsys.readouterr().out
    assert fuzz.main(["--merge", old]) == 0
    assert "juju profile: (not recorded)" in capsys.readouterr().out

    with pytest.raises(SystemExit) as e:
        fuzz.main(["--merge", a, "--juju", "4"])
    assert e.value.code == 2
    assert "the slices ran on Juju profile 3.6, not 4" in capsys.readouterr().err


def test_an_unknown_juju_profile_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as e:
        fuzz.main(["--show-seed", "1", "--juju", "5"])

    assert e.value.code == 2
    assert "no Juju profile '5'" in capsys.readouterr().err


def test_show_seed_runs_the_seed_on_the_juju_asked_for(monkeypatch, capsys):
    ran = []

    def run_schedule(seed, charms, profile):
        ran.append((seed, profile))
        return Outcome(seed, hooks=4)

    monkeypatch.setattr(fuzz, "build_fixtures", dict)
    monkeypatch.setattr(fuzz, "run_schedule", run_schedule)

    assert fuzz.main(["--show-seed", "7", "--juju", "3.6"]) == 0
    assert fuzz.main(["--show-seed", "8"]) == 0

    assert ran == [(7, "3.6"), (8, "4")]
    out = capsys.readouterr().out
    assert "juju profile: 3.6 (jujusim juju-3.6" in out
    assert "juju profile: 4 (jujusim juju-4" in out
    assert "seed 7: " in out


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
        return Outcome(seed, hooks=3, faults=Counter({"unit-added": 1}))


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
    data = json.loads((tmp_path / "seeds-00011-00020.json").read_text())
    assert data["juju"] == "4"
    assert data["charms"] == {"policies": "policies-k2", "rolling-restart": "rolling-restart-k1"}
    assert [o["seed"] for o in data["outcomes"]] == list(range(11, 21))
    assert "slices merged: 3; seeds 1-25" in text
    assert "juju profile: 4 (jujusim juju-4" in text
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


def test_sliced_campaign_reruns_a_slice_of_another_juju_profile(tmp_path):
    fuzz.run_slices(str(tmp_path), 1, 20, 10, BUILDS, jobs=1, runner=_Runner(), juju="3.6")
    data = json.loads((tmp_path / "seeds-00001-00010.json").read_text())
    assert data["juju"] == "3.6"
    legacy = tmp_path / "seeds-00011-00020.json"
    del data["juju"]  # a slice written before slices recorded their profile
    data["outcomes"] = [dict(o, seed=o["seed"] + 10) for o in data["outcomes"]]
    legacy.write_text(json.dumps(data))

    runner = _Runner()
    text, _ = fuzz.run_slices(str(tmp_path), 1, 20, 10, BUILDS, jobs=1, runner=runner, juju="4")

    assert runner.ran == list(range(1, 21))  # neither the 3.6 slice nor the unrecorded one kept
    assert json.loads(legacy.read_text())["juju"] == "4"
    assert "juju profile: 4 " in text

    again = _Runner()
    fuzz.run_slices(str(tmp_path), 1, 20, 10, BUILDS, jobs=1, runner=again, juju="4")
    assert again.ran == []  # the same profile: kept


def test_sliced_campaign_reruns_a_slice_whose_runner_broke(tmp_path):
    class BreaksOnce(_Runner):
        def __call__(self, seed, charms):
            outcome = super().__call__(seed, charms)
            if seed == 3 and self.ran.count(3) == 1:
                outcome.error = "Traceback: the simulator broke"
            return outcome

    runner = BreaksOnce()
    _, code = fuzz.run_slices(str(tmp_path), 1, 10, 5, BUILDS, jobs=1, runner=runner)
    assert code == 1

    runner.ran.clear()
    runner.ran.append(3)  # seed 3 broke once already: it runs clean now
    text, code = fuzz.run_slices(str(tmp_path), 1, 10, 5, BUILDS, jobs=1, runner=runner)

    assert runner.ran == [3, 1, 2, 3, 4, 5]  # the broken slice ran again, the other did not
    assert code == 0
    assert "schedules tried: 10" in text


def test_harness_key_follows_the_simulator_and_the_schedule_generator_only(tmp_path):
    import shutil
    from pathlib import Path

    here = Path(fuzz.__file__).parent
    copy = tmp_path / "functional"
    shutil.copytree(here / "jujusim", copy / "jujusim")
    for name in ("schedules.py", "fuzz.py"):
        shutil.copy(here / name, copy / name)
    key = fuzz.harness_key()
    assert fuzz.harness_key(str(copy)) == key

    (copy / "jujusim" / "__pycache__").mkdir(exist_ok=True)
    (copy / "jujusim" / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    assert fuzz.harness_key(str(copy)) == key  # caches are not the simulator

    runner = copy / "fuzz.py"
    runner.write_text(runner.read_text() + "\n# changed\n")
    assert fuzz.harness_key(str(copy)) == key  # reports and slicing do not change a seed

    agent = copy / "jujusim" / "agent.py"
    agent.write_text(agent.read_text() + "\n# changed\n")
    changed = fuzz.harness_key(str(copy))
    assert changed != key

    generator = copy / "schedules.py"
    generator.write_text(generator.read_text() + "\n# changed\n")
    assert fuzz.harness_key(str(copy)) not in (key, changed)


def _marking_runner(seed, charms):
    """A picklable stand-in for run_schedule: marks each seed it ran in charms["marks"]."""
    import time
    from pathlib import Path

    time.sleep(0.05)
    (Path(charms["marks"]) / str(seed)).touch()
    return Outcome(seed, hooks=1)


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
        data = json.loads((out / ("seeds-%05d-%05d.json" % (a, a + 4))).read_text())
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
