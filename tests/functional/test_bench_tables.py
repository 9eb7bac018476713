"""The benchmark's tables (tests/bench/bench.py): profiles, merging, targets.

A 100-unit roll takes long enough that the benchmark runs in parts (by size,
profile or configuration); these check that the parts print as one table,
each figure beside the Juju profile it ran on, with the ratio rows where both
configurations of a size and profile are present, runs recorded before
figures named a profile labelled 2.9, what runs where (the original layer's
stand-in needs leader settings, which Juju 4 lacks), and the layer's targets
judged from the figures.
"""

import json
import subprocess

import pytest

import bench
import charmbuild
from jujusim.testing import scripted_charm


def _roll(config, units, coord_per_hook, juju=None, leader=None, hooks=None, took=100.0):
    hooks = 3 * units * (units - 1) if hooks is None else hooks
    role = {"hooks": hooks, "mean": float(coord_per_hook), "min": 5, "max": 7}
    roll = {
        "config": config,
        "units": units,
        "seed": 1,
        "deploy_hooks": 10,
        "roll_hooks": hooks,
        "roll_calls": 2 * coord_per_hook * hooks,
        "roll_coord_calls": coord_per_hook * hooks,
        "calls_per_hook": 2.0 * coord_per_hook,
        "coord_by_role": {"non-leader": role},
        "coord_by_hook": {"non-leader relation-changed": role},
        "wall_seconds": 10.0,
        "wall_ms_per_hook": 10000.0 / hooks,
        "simulated_seconds": took,
        "peak": 1,
    }
    if leader is not None:
        roll["coord_by_role"]["leader"] = leader
    if juju is not None:
        roll["juju"] = juju
    return roll


def _role(mean, top, hooks=10):
    return {"hooks": hooks, "mean": float(mean), "min": 1, "max": top}


def _run(path, units, rolls, seed=1, configs=None, elapsed=100.0, date="2026-11-26", juju=None):
    args = {"units": units, "seed": seed}
    if configs:
        args["configs"] = configs
    if juju:
        args["juju"] = juju
    path.write_text(
        json.dumps(
            {"args": args, "elapsed": elapsed, "date": date, "rolls": rolls, "overhead": []}
        )
    )
    return str(path)


def _rows(out, units):
    """The (juju, config) of the first table's rows of `units` units."""
    table = out.split("\n\n")[2]
    return [tuple(line.split()[1:3]) for line in table.splitlines() if line.split()[:1] == [units]]


def test_parts_print_as_one_table_with_ratios(tmp_path, capsys):
    small = _run(
        tmp_path / "a.json",
        [3],
        [_roll("layer", 3, 5, "3.6"), _roll("original", 3, 10, "3.6")],
        juju=["3.6"],
    )
    layer = _run(
        tmp_path / "b.json", [100], [_roll("layer", 100, 5, "3.6")], configs="layer", juju=["3.6"]
    )
    original = _run(
        tmp_path / "c.json",
        [100],
        [_roll("original", 100, 107, "3.6")],
        configs="original",
        date="2026-11-27",
        juju=["3.6"],
    )

    assert bench.main(["--from-json", small, layer, original]) == 0

    out = capsys.readouterr().out
    assert "merged from 3 runs" in out
    assert "--units 100 --juju 3.6 --configs original" in out
    assert "together 300 s" in out
    assert "2026-11-26, 2026-11-27" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("ratio")]
    # One ratio row per size that has both configurations; coord/hook 107/5.
    assert len(rows) == 2
    assert rows[1][4] == "21.40"
    assert "(ratio = original / layer, on the same Juju)" in out


def test_each_profile_prints_its_own_rows_and_ratios(tmp_path, capsys):
    run = _run(
        tmp_path / "a.json",
        [3],
        [
            _roll("layer", 3, 4, "4"),
            _roll("layer", 3, 5, "3.6"),
            _roll("original", 3, 10, "3.6"),
        ],
        juju=["3.6", "4"],
    )

    assert bench.main(["--from-json", run]) == 0

    out = capsys.readouterr().out
    assert _rows(out, "3") == [("3.6", "layer"), ("3.6", "original"), ("4", "layer")]
    # The ratio row belongs to 3.6, the only profile with both configurations.
    lines = out.splitlines()
    ratio = next(i for i, line in enumerate(lines) if line.strip().startswith("ratio"))
    assert lines[ratio - 1].split()[1:3] == ["3.6", "original"]
    assert lines[ratio].split()[4] == "2.00"
    assert "  N=3 juju 4 layer: non-leader relation-changed 4.0 (18)" in out
    assert "3.6: juju-3.6, JUJU_VERSION 3.6." in out
    assert "4: juju-4, JUJU_VERSION 4.0.1" in out


def test_a_later_part_replaces_the_same_roll_of_the_same_profile_only(tmp_path):
    first = _run(tmp_path / "a.json", [3], [_roll("layer", 3, 9, "4"), _roll("layer", 3, 8)])
    again = _run(tmp_path / "b.json", [3], [_roll("layer", 3, 5, "4")])

    data = bench.merge_runs([first, again])

    assert [(r["juju"], r["roll_coord_calls"]) for r in data["rolls"]] == [
        ("2.9", 8 * 18),
        ("4", 5 * 18),
    ]
    assert data["args"]["juju"] == ["2.9", "4"]


def test_parts_with_different_seeds_are_refused(tmp_path, capsys):
    a = _run(tmp_path / "a.json", [3], [_roll("layer", 3, 5)], seed=1)
    b = _run(tmp_path / "b.json", [10], [_roll("layer", 10, 5)], seed=2)

    with pytest.raises(SystemExit) as e:
        bench.main(["--from-json", a, b])

    assert e.value.code == 2
    assert "different seeds" in capsys.readouterr().err


def test_runs_recorded_with_the_former_inherited_baseline_still_print_as_juju_2_9(
    tmp_path, capsys
):
    # tests/bench/results/ keeps runs whose baseline was the shipped layer's
    # former `protocol: charmhelpers` option, labelled "inherited", recorded
    # before figures named their profile: jujusim's rules then, 2.9.
    old = _run(tmp_path / "a.json", [3], [_roll("layer", 3, 5), _roll("inherited", 3, 10)])

    assert bench.main(["--from-json", old]) == 0

    out = capsys.readouterr().out
    assert _rows(out, "3") == [("2.9", "layer"), ("2.9", "inherited")]
    assert "(ratio = inherited / layer, on the same Juju)" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("ratio")]
    assert [row[4] for row in rows] == ["2.00"]
    assert "2.9: juju-2.9, JUJU_VERSION 2.9.49 (and figures recorded before" in out


def test_a_run_of_the_baseline_alone_prints_no_ratios(tmp_path, capsys):
    alone = _run(tmp_path / "a.json", [3], [_roll("original", 3, 12, "3.6")], configs="original")

    assert bench.main(["--from-json", alone]) == 0

    out = capsys.readouterr().out
    assert "    3  3.6   original" in out
    assert "ratio" not in out
    assert "Targets" not in out  # the targets are the layer's


def test_the_original_layers_stand_in_runs_only_where_leader_settings_exist():
    assert bench.runnable("original", "3.6")
    assert bench.runnable("original", "2.9")
    assert not bench.runnable("original", "4")
    assert bench.runnable("layer", "4")

    jobs, notes = bench.plan_rolls({"layer", "original"}, [3, 10], ["3.6", "4"], 1)

    assert [(config, n, juju) for config, _, n, _, juju in jobs] == [
        ("layer", 10, "3.6"),
        ("original", 10, "3.6"),
        ("layer", 10, "4"),
        ("layer", 3, "3.6"),
        ("original", 3, "3.6"),
        ("layer", 3, "4"),
    ]
    assert notes == [
        "original: not run on Juju 4: its protocol needs leader-get/leader-set, "
        "which Juju 4 does not have"
    ]
    assert bench.plan_rolls({"layer"}, [3], ["4"], 1)[1] == []


def test_an_unknown_juju_profile_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--juju", "3.6,5"])

    assert e.value.code == 2
    assert "no Juju profile '5'" in capsys.readouterr().err


def _targets(rolls, units):
    profiles = sorted({r["juju"] for r in rolls})
    return "\n".join(bench.targets(rolls, units, profiles))


def test_targets_met_are_judged_met_with_their_numbers():
    rolls = [
        _roll("layer", 3, 4, "4", leader=_role(6, 8)),
        _roll("layer", 10, 4.2, "4", leader=_role(6, 8)),
        _roll("layer", 100, 4, "4", leader=_role(6, 8), took=3200.0),
    ]
    # At most 5 % above 3N(N-1) = 29700, and non-leader max 5 at every size.
    rolls[2]["roll_hooks"] = 29700 + 1400
    for r in rolls:
        r["coord_by_role"]["non-leader"]["max"] = 5

    text = _targets(rolls, [3, 10, 100])

    assert "N=10: mean 4.20, max 5 in 270 hooks: met" in text
    assert "N=100: mean 6.00, max 8 in 10 hooks: met" in text
    assert "max 5, 5, 5, mean 4.00, 4.20, 4.00: met" in text
    assert "N=100: 31100 hooks (31100 with config-changed), 3N(N-1) = 29700 (+4.7%): met" in text
    assert "N=100: 3200 s (1.07 x N x 30 s): met" in text
    assert "juju 4: 11 of 11 targets judged met" in text
    assert "NOT MET" not in text


def test_targets_missed_are_judged_not_met_with_their_numbers():
    rolls = [
        _roll("layer", 3, 4, "3.6", leader=_role(8.5, 9)),
        _roll("layer", 100, 5.5, "3.6", leader=_role(8.5, 8), took=3301.0),
    ]
    rolls[0]["coord_by_role"]["non-leader"]["max"] = 5
    rolls[1]["roll_hooks"] = 29700 + 1600
    # A roll of another configuration is not the layer's.
    rolls.append(_roll("original", 3, 1, "3.6", leader=_role(1, 1)))

    text = _targets(rolls, [3, 100])

    assert "N=3: mean 4.00, max 5 in 18 hooks: met" in text
    assert "N=100: mean 5.50, max 7 in 29700 hooks: NOT MET" in text
    assert "max 5, 7, mean 4.00, 5.50: NOT MET" in text  # grows with N
    assert "N=3: mean 8.50, max 9 in 10 hooks: NOT MET" in text
    assert "N=100: mean 8.50, max 8 in 10 hooks: NOT MET" in text
    assert (
        "N=100: 31300 hooks (31300 with config-changed), 3N(N-1) = 29700 (+5.4%): NOT MET" in text
    )
    assert "N=100: 3301 s (1.10 x N x 30 s): NOT MET" in text
    assert "juju 3.6: 2 of 8 targets judged met, 6 NOT MET" in text


def test_a_roll_below_3n_n_minus_1_is_judged_met_and_printed_with_its_deviation():
    # Juju coalesced one notification: 17 coordination hooks at N=3, 5.6 % under 18,
    # and 20 % under at N=10. Fewer hooks than the model costs nothing; the bound
    # is on the cost, 5 % above.
    rolls = [
        _roll("layer", 3, 4, "3.6", leader=_role(6, 7), hooks=17),
        _roll("layer", 10, 4, "3.6", leader=_role(6, 7), hooks=216),
    ]

    text = _targets(rolls, [3, 10])

    assert "at most 5% above 3N(N-1) (fewer: coalesced):" in text
    assert "N=3: 17 hooks (17 with config-changed), 3N(N-1) = 18 (-5.6%): met" in text
    assert "N=10: 216 hooks (216 with config-changed), 3N(N-1) = 270 (-20.0%): met" in text
    assert "NOT MET" not in text


def test_targets_without_the_figures_to_judge_them_say_so():
    text = _targets([_roll("layer", 3, 4, "4")], [3])

    assert "flat across N: one size only: not judged" in text
    assert "N=3: no leader hooks in the roll: not judged" in text
    assert "N=3: 100 s (1.11 x N x 30 s): for reading, the target is at N=100" in text
    assert "N=100: not measured: not judged" in text
    # Judged: the non-leader calls (a mean of 4; the max, 7, is for reading)
    # and the hooks (18 = 3N(N-1)).
    assert "N=3: mean 4.00, max 7 in 18 hooks: met" in text
    assert "juju 4: 2 of 2 targets judged met" in text


def test_hooks_per_roll_leave_out_the_config_changed_hooks_that_start_it():
    roll = _roll("layer", 10, 5, "4")
    roll["roll_hooks"], roll["trigger_hooks"] = 290, 10

    text = _targets([roll], [10])

    assert "N=10: 280 hooks (290 with config-changed), 3N(N-1) = 270 (+3.7%): met" in text


def _overhead(config, median, juju=None):
    row = {"config": config, "hooks": 60, "cpu_ms_mean": median, "cpu_ms_median": median}
    row["calls_mean"] = 5.0
    if juju is not None:
        row["juju"] = juju
    return row


def test_each_profiles_overhead_is_compared_with_no_layer_on_the_same_profile(tmp_path, capsys):
    path = tmp_path / "a.json"
    path.write_text(
        json.dumps(
            {
                "args": {"units": [3], "seed": 1, "juju": ["3.6", "4"]},
                "elapsed": 10.0,
                "rolls": [_roll("layer", 3, 5, "4")],
                "overhead": [
                    _overhead("layer", 110.0, "4"),
                    _overhead("no layer", 100.0, "4"),
                    _overhead("layer", 190.0, "3.6"),
                    _overhead("no layer", 200.0, "3.6"),
                    _overhead("layer", 300.0),  # recorded before rows named a profile
                ],
            }
        )
    )

    assert bench.main(["--from-json", str(path)]) == 0

    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line[:4] in ("2.9 ", "3.6 ", "4   ")]
    assert [row[:2] + row[-3:] for row in rows] == [
        ["2.9", "layer", "300.0", "300.0", "5.0"],
        ["3.6", "layer", "(-10.0", "ms,", "x0.95)"],
        ["3.6", "no", "200.0", "200.0", "5.0"],
        ["4", "layer", "(+10.0", "ms,", "x1.10)"],
        ["4", "no", "100.0", "100.0", "5.0"],
    ]


def _hooks(role, cpu_ms, calls):
    return [{"unit": "u", "role": role, "cpu": ms / 1000.0, "calls": calls} for ms in cpu_ms]


def test_overhead_rows_split_the_update_status_hooks_by_role():
    hooks = _hooks("leader", [300, 320], 10) + _hooks("non-leader", [200, 210, 250], 7)
    hooks[-1]["calls"] = 8

    row = bench.overhead_row("layer", "4", hooks)

    assert (row["config"], row["juju"], row["hooks"]) == ("layer", "4", 5)
    assert row["cpu_ms_median"] == pytest.approx(250.0)
    assert row["calls_mean"] == pytest.approx(42 / 5)
    leader, others = row["by_role"]["leader"], row["by_role"]["non-leader"]
    assert leader["hooks"] == 2
    assert leader["cpu_ms_mean"] == pytest.approx(310.0)
    assert leader["cpu_ms_median"] == pytest.approx(310.0)
    assert leader["calls_mean"] == pytest.approx(10.0)
    assert others["hooks"] == 3
    assert others["cpu_ms_mean"] == pytest.approx(220.0)
    assert others["cpu_ms_median"] == pytest.approx(210.0)
    assert others["calls_mean"] == pytest.approx(22 / 3)


def test_a_role_without_hooks_is_left_out_of_its_row():
    row = bench.overhead_row("no layer", "4", _hooks("non-leader", [100, 120], 5))

    assert list(row["by_role"]) == ["non-leader"]
    assert bench.overhead_row("layer", "4", [])["hooks"] == 0


def _split(config, juju, leader, non_leader):
    """An overhead row with its by_role figures: (CPU ms median, tool calls) per role."""
    row = {"config": config, "juju": juju, "hooks": 30}
    row.update(cpu_ms_mean=0.0, cpu_ms_median=0.0, calls_mean=0.0, by_role={})
    for role, (median, calls) in (("leader", leader), ("non-leader", non_leader)):
        if median is None:
            continue
        row["by_role"][role] = {
            "hooks": 10 if role == "leader" else 20,
            "cpu_ms_mean": median + 1.0,
            "cpu_ms_median": median,
            "calls_mean": calls,
        }
    row["cpu_ms_median"] = row["by_role"]["non-leader"]["cpu_ms_median"]
    row["cpu_ms_mean"] = row["cpu_ms_median"] + 1.0
    row["calls_mean"] = row["by_role"]["non-leader"]["calls_mean"]
    return row


def _overhead_run(path, rows, juju=("4",)):
    path.write_text(
        json.dumps(
            {
                "args": {"units": [3], "seed": 1, "juju": list(juju)},
                "elapsed": 10.0,
                "rolls": [],
                "overhead": rows,
            }
        )
    )
    return str(path)


def _overhead_lines(out):
    """The overhead table's rows, split: (juju, config, role, the rest)."""
    start = out.index("Per-hook overhead")
    table = out[start:].split("\n\n")[1].splitlines()[2:]
    rows = []
    for line in table:
        juju, rest = line[:4].strip(), line[6:]
        config, _, rest = rest.partition("  ")
        role, rest = rest.strip().split(None, 1)
        rows.append((juju, config.strip(), role, rest.split()))
    return rows


def test_the_overhead_table_prints_each_role_beside_no_layer_of_the_same_role(tmp_path, capsys):
    path = _overhead_run(
        tmp_path / "a.json",
        [
            _split("layer before (1234abc)", "4", (330.0, 12.0), (220.0, 10.0)),
            _split("layer", "4", (320.0, 9.0), (215.0, 6.0)),
            _split("no layer", "4", (300.0, 4.0), (200.0, 4.0)),
        ],
    )

    assert bench.main(["--from-json", path]) == 0

    out = capsys.readouterr().out
    assert "juju  config                  role         hooks   CPU ms mean" in out
    rows = {(juju, config, role): rest for juju, config, role, rest in _overhead_lines(out)}
    assert list(rows) == [
        ("4", config, role)
        for config in ("layer before (1234abc)", "layer", "no layer")
        for role in ("all", "leader", "non-leader")
    ]
    # hooks, CPU ms mean, CPU ms median, tool calls, then the median against no layer's
    # of the same role.
    assert rows["4", "layer", "leader"] == [
        "10",
        "321.0",
        "320.0",
        "9.0",
        "(+20.0",
        "ms,",
        "x1.07)",
    ]
    assert rows["4", "layer", "non-leader"] == [
        "20",
        "216.0",
        "215.0",
        "6.0",
        "(+15.0",
        "ms,",
        "x1.07)",
    ]
    assert rows["4", "layer before (1234abc)", "leader"][3:5] == ["12.0", "(+30.0"]
    assert rows["4", "no layer", "leader"] == ["10", "301.0", "300.0", "4.0"]


def test_old_overhead_rows_without_roles_print_under_all(capsys):
    path = bench.HERE + "/results/2026-11-27-overhead-120-idle.json"

    assert bench.main(["--from-json", path]) == 0

    rows = _overhead_lines(capsys.readouterr().out)
    assert [(juju, config, role, rest[:4]) for juju, config, role, rest in rows] == [
        ("2.9", "layer", "all", ["117", "353.3", "339.6", "10.0"]),
        ("2.9", "inherited", "all", ["116", "362.2", "361.5", "17.7"]),
        ("2.9", "no layer", "all", ["114", "317.1", "308.9", "5.0"]),
    ]
    assert rows[0][3][4:] == ["(+30.7", "ms,", "x1.10)"]


def test_measure_overhead_takes_each_hooks_role_from_the_simulators_leader(tmp_path, monkeypatch):
    # A charm whose update-status makes one hook-tool call more where is-leader
    # says true: the hooks measured as the leader's must be those, all of one unit.
    charm = scripted_charm(
        tmp_path / "charm",
        "def update_status(h):\n    if h.is_leader():\n        h.log('leading')\n",
    )
    monkeypatch.setattr(bench.charmbuild, "build_charm", lambda name, layer_source=None: charm)

    # Seed 3: scripted/1 leads (not the first unit).
    found = bench.measure_overhead("layer", "rolling-restart", 6, 3, "4")

    hooks = found["hooks"]
    assert len(hooks) == 6
    leaders = {h["unit"] for h in hooks if h["role"] == "leader"}
    assert len(leaders) == 1
    units = {"scripted/0", "scripted/1", "scripted/2"}
    assert leaders < units
    assert {h["unit"] for h in hooks if h["role"] == "non-leader"} == units - leaders
    assert {(h["role"], h["calls"]) for h in hooks} == {("leader", 2), ("non-leader", 1)}
    assert all(h["cpu"] > 0 for h in hooks)


def _git(*argv):
    return subprocess.run(
        ["git", "-C", str(charmbuild.LAYER_SOURCE), *argv],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_before_takes_a_revision_of_this_repository_and_labels_it_by_its_short_sha():
    args = bench._parser().parse_args(["--before", "HEAD~1", "--configs", "layer"])

    sha = _git("rev-parse", "HEAD~1")
    short = _git("rev-parse", "--short", "HEAD~1")
    assert args.before == ("HEAD~1", sha, short)
    assert args.before.label == "layer before (%s)" % short
    assert bench._parser().parse_args([]).before is None


@pytest.mark.parametrize("rev", ["no-such-revision", "--output=x", ""])
def test_before_refuses_what_is_not_a_revision(rev, capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--before=" + rev])

    assert e.value.code == 2
    assert "is not a revision of" in capsys.readouterr().err


def test_before_needs_the_per_hook_overhead(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--before", "HEAD", "--overhead-hooks", "0"])

    assert e.value.code == 2
    assert "give --overhead-hooks > 0" in capsys.readouterr().err


def test_before_measures_the_earlier_layer_beside_layer_and_no_layer(tmp_path):
    # Without --before, as ever: every configuration and no layer.
    assert [c[0] for c in bench.overhead_configs({"layer"})] == ["layer", "original", "no layer"]

    before = ("layer before (1234abc)", str(tmp_path))
    configs = bench.overhead_configs({"layer"}, before)
    assert configs == [
        ("layer before (1234abc)", "rolling-restart", str(tmp_path)),
        ("layer", "rolling-restart", None),
        ("no layer", "no-coordinator", None),
    ]
    both = bench.overhead_configs({"layer", "original"}, before)
    plan = bench.plan_overhead(both, ["3.6", "4"])
    assert [(label, juju) for label, _, juju, _ in plan] == [
        ("layer before (1234abc)", "3.6"),
        ("layer", "3.6"),
        ("original", "3.6"),
        ("no layer", "3.6"),
        ("layer before (1234abc)", "4"),
        ("layer", "4"),
        ("no layer", "4"),
    ]


def test_the_before_row_says_which_layer_it_measured(tmp_path, capsys):
    rows = []
    for juju in ("3.6", "4"):
        rows.append(_split("layer before (1234abc)", juju, (330.0, 12.0), (220.0, 10.0)))
        rows[-1].update(layer_revision="1234abcdef", same_build_as_layer=False)
        rows.append(_split("no layer", juju, (300.0, 4.0), (200.0, 4.0)))
    path = _overhead_run(tmp_path / "a.json", rows, juju=("3.6", "4"))
    data = json.loads((tmp_path / "a.json").read_text())
    data["args"]["before"] = "main~3"
    (tmp_path / "a.json").write_text(json.dumps(data))

    assert bench.main(["--from-json", path]) == 0

    out = capsys.readouterr().out
    # Said once, for both profiles' rows.
    note = (
        "(layer before (1234abc): the layer at 1234abcdef, built with this tree's fixture "
        "and stand-ins)"
    )
    assert out.splitlines().count(note) == 1
    assert "--seed 1 --before main~3 (took 10 s)" in out


def test_a_revision_unpacks_as_git_archive_gives_it(tmp_path):
    bench.unpack_revision(_git("rev-parse", "HEAD~1"), tmp_path)

    assert (tmp_path / "layer.yaml").read_text() == _git("show", "HEAD~1:layer.yaml") + "\n"
    assert (tmp_path / "reactive" / "coordinator.py").is_file()
    assert not (tmp_path / ".git").exists()


def test_a_layer_source_keys_the_build_by_its_shipped_files(tmp_path):
    # Computes cache keys only: nothing is built.
    name = "rolling-restart"
    source = bench.unpack_revision(_git("rev-parse", "HEAD"), tmp_path / "layer")
    key = charmbuild.cache_key(name, layer_source=source)
    assert charmbuild.cache_key(name) == charmbuild.cache_key(name, charmbuild.LAYER_SOURCE)

    # A file the layer's exclude: list drops does not reach the build.
    doc = tmp_path / "layer" / "docs" / "cost.md"
    doc.write_text(doc.read_text() + "\nedited\n")
    assert charmbuild.cache_key(name, layer_source=source) == key

    # A file the built charm ships does.
    lib = tmp_path / "layer" / "reactive" / "coordinator.py"
    lib.write_text(lib.read_text() + "\n# edited\n")
    edited = charmbuild.cache_key(name, layer_source=source)
    assert edited != key
    assert edited != charmbuild.cache_key(name)


def _quiet(rows, profiles=("4",)):
    return "\n".join(bench.quiet_targets(rows, list(profiles)))


def test_quiet_hook_targets_met_are_judged_met_with_their_numbers():
    # Each at its bound: 2 calls, 10 ms and 5 calls more than no layer (tool calls
    # as means over hooks: 14/3 - 8/3 is 2.0000000000000004 in floating point).
    rows = [
        _split("layer before (1234abc)", "4", (330.0, 12.0), (230.0, 10.0)),
        _split("layer", "4", (305.0, 9.0), (210.0, 14 / 3)),
        _split("no layer", "4", (300.0, 4.0), (200.0, 8 / 3)),
    ]

    text = _quiet(rows)

    assert "  juju 4:" in text
    assert (
        "    non-leader update-status, tool calls <= no layer + 2: 4.67 - 2.67 = +2.00 "
        "(20 hooks; no layer 20): met" in text
    )
    assert (
        "    non-leader update-status, CPU median <= no layer + 10 ms: 210.0 - 200.0 = +10.0 ms "
        "(20 hooks; no layer 20): met" in text
    )
    assert (
        "    leader update-status, tool calls <= no layer + 5: 9.00 - 4.00 = +5.00 "
        "(10 hooks; no layer 10): met" in text
    )
    # The earlier layer's figures are printed beside, not judged.
    assert "      layer before (1234abc): 10.00 - 2.67 = +7.33, for reading" in text
    assert "      layer before (1234abc): 230.0 - 200.0 = +30.0 ms, for reading" in text
    assert "      layer before (1234abc): 12.00 - 4.00 = +8.00, for reading" in text
    assert "    juju 4: 3 of 3 quiet-hook targets judged met" in text
    assert "NOT MET" not in text
    assert "not judged" not in text


def test_quiet_hook_targets_missed_are_judged_not_met_with_their_numbers():
    rows = [
        _split("layer", "3.6", (306.0, 9.5), (210.5, 6.5)),
        _split("no layer", "3.6", (300.0, 4.5), (200.0, 4.0)),
        # Another profile is judged on its own figures: met there.
        _split("layer", "4", (300.0, 5.0), (200.0, 5.0)),
        _split("no layer", "4", (300.0, 4.0), (200.0, 4.0)),
    ]

    text = _quiet(rows, ["3.6", "4"])

    assert "no layer + 2: 6.50 - 4.00 = +2.50 (20 hooks; no layer 20): NOT MET" in text
    assert "no layer + 10 ms: 210.5 - 200.0 = +10.5 ms (20 hooks; no layer 20): NOT MET" in text
    assert "no layer + 5: 9.50 - 4.50 = +5.00 (10 hooks; no layer 10): met" in text
    assert "    juju 3.6: 1 of 3 quiet-hook targets judged met, 2 NOT MET" in text
    assert "    juju 4: 3 of 3 quiet-hook targets judged met" in text


def test_quiet_hook_targets_without_their_figures_say_not_judged(tmp_path, capsys):
    no_leader = _split("layer", "4", (None, None), (210.0, 5.0))
    rows = [
        no_leader,
        _split("no layer", "4", (300.0, 4.0), (200.0, 4.0)),
        _split("layer", "3.6", (300.0, 5.0), (200.0, 5.0)),
    ]

    text = _quiet(rows, ["3.6", "4"])

    assert (
        "    non-leader update-status, tool calls <= no layer + 2: not judged "
        "(no layer: not measured)" in text
    )
    assert "    juju 3.6: 0 of 0 quiet-hook targets judged met, 3 not judged" in text
    assert (
        "    leader update-status, tool calls <= no layer + 5: not judged "
        "(layer: no leader hooks)" in text
    )
    assert "    juju 4: 2 of 2 quiet-hook targets judged met, 1 not judged" in text

    # Rows recorded before the split by role (tests/bench/results/) are not judged.
    path = bench.HERE + "/results/2026-11-27-overhead-120-idle.json"
    assert bench.main(["--from-json", path]) == 0
    out = capsys.readouterr().out
    assert (
        "CPU median <= no layer + 10 ms: not judged (no layer: figures not split by role)" in out
    )
    assert "    juju 2.9: 0 of 0 quiet-hook targets judged met, 3 not judged" in out


def test_the_both_stores_experiment_still_patches_the_layers_transport(tmp_path):
    # docs/cost.md quotes tests/bench/both_stores.py; its variant must stay buildable
    # from the current tree: the databag write it follows still exists, once.
    import both_stores

    layer = both_stores.variant_layer(tmp_path)
    transport = (layer / "lib/charms/layer_coordinator/transport.py").read_text()
    assert transport.count(both_stores.WRITE + both_stores.MIRROR) == 1
    assert not (layer / "tests").exists()
    compile(transport, "transport.py", "exec")
