"""The benchmark's table merging (tests/bench/bench.py --from-json A B ...).

A 100-unit roll takes long enough that the benchmark runs in parts (by size
or configuration); these check that the parts print as one table, with the
ratio rows where both configurations of a size are present.
"""

import importlib.util
import json
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench.py"
_spec = importlib.util.spec_from_file_location("bench", BENCH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _roll(config, units, coord_per_hook):
    hooks = 3 * units * (units - 1)
    role = {"hooks": hooks, "mean": float(coord_per_hook), "min": 5, "max": 7}
    return {
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
        "simulated_seconds": 100.0,
        "peak": 1,
    }


def _run(path, units, rolls, seed=1, configs=None, elapsed=100.0, date="2026-11-26"):
    args = {"units": units, "seed": seed}
    if configs:
        args["configs"] = configs
    path.write_text(
        json.dumps(
            {"args": args, "elapsed": elapsed, "date": date, "rolls": rolls, "overhead": []}
        )
    )
    return str(path)


def test_parts_print_as_one_table_with_ratios(tmp_path, capsys):
    small = _run(tmp_path / "a.json", [3], [_roll("layer", 3, 5), _roll("original", 3, 10)])
    layer = _run(tmp_path / "b.json", [100], [_roll("layer", 100, 5)], configs="layer")
    original = _run(
        tmp_path / "c.json",
        [100],
        [_roll("original", 100, 107)],
        configs="original",
        date="2026-11-27",
    )

    assert bench.main(["--from-json", small, layer, original]) == 0

    out = capsys.readouterr().out
    assert "merged from 3 runs" in out
    assert "--units 100 --configs original" in out
    assert "together 300 s" in out
    assert "2026-11-26, 2026-11-27" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("ratio")]
    # One ratio row per size that has both configurations; coord/hook 107/5.
    assert len(rows) == 2
    assert rows[1][4] == "21.40"


def test_a_later_part_replaces_the_same_roll(tmp_path):
    first = _run(tmp_path / "a.json", [3], [_roll("layer", 3, 9)])
    again = _run(tmp_path / "b.json", [3], [_roll("layer", 3, 5)])

    data = bench.merge_runs([first, again])

    assert [r["roll_coord_calls"] for r in data["rolls"]] == [5 * 18]


def test_parts_with_different_seeds_are_refused(tmp_path, capsys):
    a = _run(tmp_path / "a.json", [3], [_roll("layer", 3, 5)], seed=1)
    b = _run(tmp_path / "b.json", [10], [_roll("layer", 10, 5)], seed=2)

    with pytest.raises(SystemExit) as e:
        bench.main(["--from-json", a, b])

    assert e.value.code == 2
    assert "different seeds" in capsys.readouterr().err


def test_runs_recorded_with_the_former_inherited_baseline_still_print(tmp_path, capsys):
    # tests/bench/results/ keeps runs whose baseline was the shipped layer's
    # former `protocol: charmhelpers` option, labelled "inherited".
    old = _run(tmp_path / "a.json", [3], [_roll("layer", 3, 5), _roll("inherited", 3, 10)])

    assert bench.main(["--from-json", old]) == 0

    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("    3  ")] == [
        "layer",
        "inherited",
        "layer",
        "inherited",
    ]
    assert "(ratio = inherited / layer)" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("ratio")]
    assert [row[4] for row in rows] == ["2.00"]


def test_a_run_of_the_baseline_alone_prints_no_ratios(tmp_path, capsys):
    alone = _run(tmp_path / "a.json", [3], [_roll("original", 3, 12)], configs="original")

    assert bench.main(["--from-json", alone]) == 0

    out = capsys.readouterr().out
    assert "    3  original" in out
    assert "ratio" not in out
