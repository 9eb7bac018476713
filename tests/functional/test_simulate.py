"""`make simulate` (``python -m jujusim simulate``) on built charms (issue 22).

The verdict is read from the layer's own flags and log only (`jujusim.verdict`),
so here it is checked against the fixtures' ``sim-journal`` probe, which
`make simulate` never reads, and on runs that break each promise it checks.
Most runs give ``--python`` the test interpreter (it has the fixtures'
wheelhouse versions); `test_the_charms_wheelhouse_*` cover the default.
"""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from jujusim import JUJU_3_6, JUJU_4, Simulation
from jujusim.cli import main
from jujusim.invariants import check_quiesced, guarded_intervals
from jujusim.verdict import observe
from jujusim.wheelhouse import WheelhouseError, hook_python, package_name

ROLL = "config generation=1"


def simulate(capsys, charm, *args, json_path=None):
    argv = ["simulate", str(charm), "--python", sys.executable, *args]
    if json_path:
        argv += ["--json", str(json_path)]
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


@contextlib.contextmanager
def journaled_roll(charm, tmp_path, units, seed, profile, update_status=False):
    """Deploy a fixture that journals its work, change its config once and run until every
    unit's work has ended; yield (sim, the change's time, the verdict's guarded work, the
    journal's intervals since then)."""
    with Simulation(
        str(charm),
        units=units,
        seed=seed,
        backend="fork",
        workdir=str(tmp_path),
        profile=profile,
        update_status=update_status,
    ) as sim:
        check_quiesced(sim)
        since = sim.now
        sim.set_config(generation=1)
        while sim.now < since + 6000 and sum(e.event == "end" for e in sim.journal) < units:
            sim.run_for(60.0)  # a held restart ends in an update-status hook
        check_quiesced(sim)
        journal = [iv for iv in guarded_intervals(sim.journal) if iv.start >= since]
        yield sim, since, observe(sim, since).guarded, journal


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("profile", [JUJU_3_6, JUJU_4], ids=["3.6", "4"])
def test_guarded_work_read_from_flags_matches_the_charms_own_journal(
    built_charms, tmp_path, profile
):
    with journaled_roll(built_charms["rolling-restart"], tmp_path, 4, 5, profile) as (
        sim,
        since,
        guarded,
        journal,
    ):
        assert len(journal) == 4
        # One hook with the grant per unit, and the journaled work inside it.
        assert sorted(g.unit for g in guarded) == sorted(iv.unit for iv in journal)
        for iv in journal:
            (hook,) = [g for g in guarded if g.unit == iv.unit]
            assert hook.lock == iv.lock == "restart"
            assert hook.committed
            assert hook.start <= iv.start
            assert iv.end <= hook.end
        assert set(observe(sim, since).asked) == {(u, "restart") for u in sim.units}


@pytest.mark.charms("rolling-restart")
def test_simulate_prints_a_timeline_passes_and_writes_its_report(built_charms, capsys, tmp_path):
    report = tmp_path / "report.json"
    rc, out, _ = simulate(
        capsys,
        built_charms["rolling-restart"],
        "--units",
        "3",
        "--juju",
        "3.6",
        "--trigger",
        ROLL + "; action coordinator-status leader",
        "--fault",
        "fail-hook@40",
        json_path=report,
    )
    assert rc == 0, out
    assert "GRANT" in out
    assert "\nOK (" in out
    data = json.loads(report.read_text())
    assert data["ok"]
    assert (data["allowed"], data["per_lock"]) == (1, False)
    assert {c["check"] for c in data["checks"]} >= {
        "never more units in guarded work than the policy allows",
        "every unit that asked got its turn",
        "no unit in error",
        "nothing still requested or held at rest",
        "the trigger's actions completed",
    }
    assert sorted({g["unit"] for g in data["guarded"]}) == [
        "rolling-restart/%d" % n for n in range(3)
    ]
    assert data["faults"][0]["kind"] == "fail-hook"


@pytest.mark.charms("two-at-once")
def test_simulate_fails_when_more_units_work_at_once_than_allowed(built_charms, capsys):
    charm = built_charms["two-at-once"]
    rc, out, _ = simulate(capsys, charm, "--units", "4", "--trigger", ROLL, "--allowed", "1")
    assert rc == 1
    assert "FAIL  never more units in guarded work than the policy allows: at most 2" in out
    rc, out, _ = simulate(capsys, charm, "--units", "4", "--trigger", ROLL, "--allowed", "2")
    assert rc == 0, out


@pytest.mark.charms("rolling-restart", "two-at-once")
@pytest.mark.parametrize(
    ("charm", "args", "message"),
    [
        ("rolling-restart", ["--trigger", "config nosuch=1"], "nosuch not in the charm's config"),
        ("rolling-restart", ["--trigger", "config generation=x"], "is of type int"),
        ("rolling-restart", ["--trigger", "config 'generation=1 2'"], "is of type int"),
        ("rolling-restart", ["--trigger", "config 'generation=1"], "No closing quotation"),
        ("rolling-restart", ["--trigger", "action nosuch"], "has no action 'nosuch'"),
        ("rolling-restart", ["--fault", "meteor"], "unknown fault 'meteor'"),
        ("rolling-restart", ["--juju", "5"], "5"),
        ("two-at-once", [], "policy class twoatonce.TwoAtOnce is its own"),
    ],
)
def test_simulate_explains_what_it_cannot_run(built_charms, capsys, charm, args, message):
    rc, out, err = simulate(capsys, built_charms[charm], *args)
    assert rc == 2
    assert message in err


def test_simulate_refuses_a_directory_that_is_not_a_built_charm(capsys, tmp_path):
    rc, _, err = simulate(capsys, tmp_path)
    assert rc == 2
    assert "is not a built charm" in err


def _sdist(path, name, setup_py):
    """Write a minimal sdist `name`-1.0.tar.gz with this setup.py."""
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n',
        "setup.py": setup_py,
        "%s.py" % name: "VALUE = 42\n",
        "PKG-INFO": "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % name,
    }
    with tarfile.open(path / ("%s-1.0.tar.gz" % name), "w:gz") as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo("%s-1.0/%s" % (name, rel))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_the_charms_wheelhouse_is_installed_once_and_cached_by_content(tmp_path):
    charm = tmp_path / "charm"
    (charm / "wheelhouse").mkdir(parents=True)
    _sdist(
        charm / "wheelhouse",
        "simprobe",
        "from setuptools import setup\nsetup(name='simprobe', version='1.0', "
        "py_modules=['simprobe'])\n",
    )
    cache = tmp_path / "cache"
    python = hook_python(str(charm), cache=cache)
    assert python != sys.executable
    out = subprocess.run(
        [python, "-c", "import simprobe; print(simprobe.VALUE)"],
        stdout=subprocess.PIPE,
        check=True,
        universal_newlines=True,
    ).stdout
    assert out.strip() == "42"
    stamp = (cache / python.split("/")[-3] / ".installed").stat().st_mtime
    assert hook_python(str(charm), cache=cache) == python
    assert (cache / python.split("/")[-3] / ".installed").stat().st_mtime == stamp


def test_a_wheelhouse_package_that_cannot_be_installed_is_named(tmp_path):
    charm = tmp_path / "charm"
    (charm / "wheelhouse").mkdir(parents=True)
    _sdist(charm / "wheelhouse", "brokenpkg", "raise SystemExit('this package cannot build')\n")
    cache = tmp_path / "cache"
    with pytest.raises(WheelhouseError) as caught:
        hook_python(str(charm), cache=cache)
    assert "brokenpkg (" in str(caught.value)
    assert "this package cannot build" in str(caught.value)
    # Nothing half-made is kept: the next run tries again.
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("charms_reactive-1.5.3.tar.gz", "charms_reactive"),
        ("setuptools_scm-1.17.0.tar.gz", "setuptools_scm"),
        ("PyYAML-6.0.4-cp311-cp311-linux_x86_64.whl", "PyYAML"),
        ("netaddr-1.3.0.zip", "netaddr"),
    ],
)
def test_wheelhouse_file_names_give_their_package(filename, name):
    assert package_name(Path(filename)) == name


def readme_block(heading):
    """The code block the README introduces with `heading`: (such as `layer.yaml`:)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    match = re.search(re.escape(heading) + r":\n\n```\w*\n(.*?)```", readme, re.S)
    assert match, "README has no block after %r" % heading
    return match.group(1)


def test_the_mycharm_fixture_is_the_readmes_quick_start():
    fixture = Path(__file__).parent / "charms" / "mycharm"
    assert yaml.safe_load(readme_block("`layer.yaml`")) == yaml.safe_load(
        (fixture / "layer.yaml").read_text()
    )
    code = (fixture / "reactive" / "mycharm.py").read_text()
    assert code.startswith(readme_block("`reactive/mycharm.py`"))


@pytest.mark.charms("mycharm")
@pytest.mark.parametrize("juju", ["4"])
def test_simulate_passes_the_readmes_quick_start_charm(built_charms, capsys, tmp_path, juju):
    report = tmp_path / "report.json"
    rc, out, _ = simulate(
        capsys,
        built_charms["mycharm"],
        "--units",
        "4",
        "--juju",
        juju,
        "--trigger",
        "config version=2",
        json_path=report,
    )
    assert rc == 0, out
    data = json.loads(report.read_text())
    # The quick start restarts on config.changed, which its first hook sets
    # too: one restart each as it deploys, one for the config change.
    units = ["mycharm/%d" % n for n in range(4)]
    assert sorted(g["unit"] for g in data["guarded"] if g["start"] < 0) == units
    assert sorted(g["unit"] for g in data["guarded"] if g["start"] >= 0) == units


@pytest.mark.charms("mycharm")
def test_the_scripted_scenario_in_the_docs_runs_with_python_m_jujusim_run(built_charms, tmp_path):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()
    section = docs[docs.index("## Scripted scenarios") :]
    script = tmp_path / "my_scenario.py"
    script.write_text(re.search(r"```python\n(.*?)```", section, re.S).group(1))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent), JUJUSIM_PYTHON=sys.executable)
    done = subprocess.run(
        [sys.executable, "-m", "jujusim", "run", str(script), str(built_charms["mycharm"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        env=env,
        cwd=str(tmp_path),
    )
    assert done.returncode == 0, done.stdout
    assert "ok: 4 hooks of guarded work, at most 1 at once" in done.stdout


@pytest.mark.charms("rolling-restart")
def test_simulate_applies_faults_and_a_refresh_and_still_passes(built_charms, capsys, tmp_path):
    charm = built_charms["rolling-restart"]
    report = tmp_path / "report.json"
    rc, out, _ = simulate(
        capsys,
        charm,
        "--units",
        "4",
        "--seed",
        "3",
        "--trigger",
        ROLL + "; upgrade " + str(charm),
        "--fault",
        "add-unit@5",
        "--fault",
        "expire-lease@20",
        "--fault",
        "kill-unit@50",
        json_path=report,
    )
    assert rc == 0, out
    for note in (
        "fault: add-unit rolling-restart/4",
        "fault: expire-lease",
        "fault: kill-unit",
        "refresh to " + str(charm),
    ):
        assert note in out
    data = json.loads(report.read_text())
    assert [f["kind"] for f in data["faults"]] == ["add-unit", "expire-lease", "kill-unit"]
    assert data["ok"]


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize(
    "triggers",
    [
        # Paused by the operator before the roll: everybody asks, nobody is granted.
        "action coordinator-pause leader; " + ROLL,
        # A first roll serves everybody; paused, the second roll's requests wait
        # for good: being served once before does not count.
        ROLL + "; action coordinator-pause leader; config generation=2",
    ],
    ids=["paused-before-the-roll", "paused-before-the-second-roll"],
)
def test_simulate_fails_when_a_unit_never_gets_its_turn(built_charms, capsys, triggers):
    rc, out, _ = simulate(
        capsys,
        built_charms["rolling-restart"],
        "--units",
        "3",
        "--settle",
        "120",
        "--trigger",
        triggers,
    )
    assert rc == 1
    assert "FAIL  every unit that asked got its turn: never got a hook with its grant" in out
    assert "FAIL  nothing still requested or held at rest: " in out
    assert "coordinator.requested.restart" in out


@pytest.mark.charms("rolling-restart")
def test_a_charm_on_the_real_layer_basic_runs_without_bootstrapping_this_machine(
    built_charms, capsys, tmp_path
):
    # Built on the real layer:basic, a charm's first hook would apt-get
    # install packages and build a virtualenv here. Stand-in for that
    # bootstrap: one that fails the hook if it ever runs.
    charm = tmp_path / "rolling-restart"
    shutil.copytree(str(built_charms["rolling-restart"]), str(charm), symlinks=True)
    basic = charm / "lib" / "charms" / "layer" / "basic.py"
    basic.write_text(
        '"""Like the real layer:basic: its bootstrap installs apt packages."""\n'
        "def bootstrap_charm_deps():\n"
        "    raise SystemExit('apt-get install python3-pip ... on this machine')\n"
    )
    rc, out, _ = simulate(capsys, charm, "--units", "3", "--trigger", ROLL)
    assert rc == 0, out
    assert (
        "layer:basic's bootstrap (apt packages, a virtualenv, charm-env) is the machine's" in out
    )
    assert "apt-get install" in basic.read_text()  # the charm itself is left as built


@pytest.mark.charms("held-restart")
def test_a_held_lock_counts_as_guarded_work_between_its_hooks_too(built_charms, tmp_path):
    # held-restart keeps the lock from its restart to a later update-status
    # hook: its journaled work spans hooks, and so must the verdict's.
    with journaled_roll(built_charms["held-restart"], tmp_path, 3, 2, JUJU_4, True) as (
        _,
        _,
        spans,
        journal,
    ):
        assert len(journal) == 3
        for iv in journal:
            assert [
                g for g in spans if g.unit == iv.unit and g.start <= iv.start <= iv.end <= g.end
            ]
        assert len(spans) == 3


@pytest.mark.parametrize(
    ("options", "config", "limit"),
    [
        ({"concurrency": 3}, {}, (3, False)),
        ({"concurrency": "50%"}, {}, (2, False)),
        ({"concurrency": "10%"}, {}, (1, False)),
        ({"concurrency": 3, "concurrency_config": "batch"}, {"batch": "2"}, (2, False)),
        # An empty or invalid config value counts as 1, as the layer counts it.
        ({"concurrency": 3, "concurrency_config": "batch"}, {"batch": ""}, (1, False)),
        ({"concurrency": 3, "concurrency_config": "batch"}, {"batch": "x"}, (1, False)),
        ({"class": "charmhelpers.coordinator.Serial"}, {}, (1, True)),
    ],
)
def test_the_policy_limit_comes_from_the_layer_options(tmp_path, options, config, limit):
    from types import SimpleNamespace

    from jujusim.cli import policy_limit

    options = dict({"class": "charms.coordinator.SimpleCoordinator"}, **options)
    (tmp_path / "layer.yaml").write_text(yaml.safe_dump({"options": {"coordinator": options}}))
    sim = SimpleNamespace(state=SimpleNamespace(config=config), units=["a/0", "a/1", "a/2", "a/3"])
    assert policy_limit(str(tmp_path), None, False)(sim)[:2] == limit
