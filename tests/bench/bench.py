"""What layer:coordinator costs per hook and per rolling restart (`make bench`).

Runs the rolling-restart fixture charm, built with the real ``charm build``,
on the simulator for each application size, in two configurations side by
side on the same seeds:

- ``layer``: the layer as shipped, with its default policy (SimpleCoordinator);
- ``original``: the same charm built on the original layer:coordinator's
  protocol, with that layer's default policy (its SimpleCoordinator): the
  test-only stand-in ``tests/layers/coordinator-original`` staged as
  layer:coordinator (fixture ``rolling-restart-original``). It runs
  charmhelpers.coordinator's own protocol as the original does: every hook
  reads every peer's request and rewrites its own, and in relation hooks the
  peer endpoint reads every peer's data again; a non-leader's hook costs N+8
  coordination calls, 2N+7 in ``coordinator-relation-*`` hooks (one more in
  the hook that asks for the lock), as measured on the original layer.

For each size it deploys the application, waits until the model is quiet,
changes the ``generation`` option once and runs the rolling restart to quiet,
then reports for the roll: hooks run, hook-tool calls (all, and coordination
calls: relation-*, leader-*, is-leader), coordination calls per hook by role
(leader, non-leader) and by hook, the simulator's wall time, and the
simulated duration of the roll under the cost model printed with the table.

A second table measures the layer's own overhead per hook: the CPU time of a
hook process (the exec backend: a new Python process per hook, as Juju runs
it, imports included) for update-status hooks of the fixture with the layer,
on the original layer, and of the same charm without the layer
(``no-coordinator``).

Usage: python tests/bench/bench.py [--units 3,10,30,100] [--seed 1]
       [--configs layer,original] [--jobs 2] [--overhead-hooks 60] [--json FILE]
       python tests/bench/bench.py --from-json FILE...  (earlier runs as one table)

Nothing here asserts a speed: the numbers are printed for people to read
(and for the README); the invariants of every roll are still checked, and a
roll that breaks one makes the benchmark exit 1.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "functional"))

import charmbuild  # noqa: E402
from jujusim import CostModel, Simulation  # noqa: E402
from jujusim.invariants import (  # noqa: E402
    check_all_requesters_acted,
    check_max_concurrency,
    check_no_granted_flags_at_rest,
    check_quiesced,
)

CONFIGS = (
    ("layer", "rolling-restart"),
    ("original", "rolling-restart-original"),
)
NO_LAYER = ("no layer", "no-coordinator")
# The baseline of runs before the original-protocol stand-in existed, kept so
# that their --json files (tests/bench/results/) still print: charmhelpers'
# protocol run by the shipped layer itself (its former option
# `protocol: charmhelpers`, with charmhelpers.coordinator.Serial).
LEGACY_BASELINE = "inherited"
COORDINATION_TOOLS = {
    "relation-get",
    "relation-set",
    "relation-ids",
    "relation-list",
    "leader-get",
    "leader-set",
    "is-leader",
}
# The fixture's guarded work, in simulated seconds (sim-journal --duration).
GUARDED_WORK = 30.0
# Configurations whose layer leaves the granted flag of a released lock set
# until the unit's next hook starts, as the original layer does: at rest, a
# unit may keep such a flag, but only for a lock it no longer requests.
STALE_GRANTED_FLAGS = {"original"}
GRANTED_PREFIX = "coordinator.granted."


def _budget(units):
    """Hooks allowed before a run counts as a hook loop: far above 3*N*(N-1)."""
    return 50 * units * units + 2000


def measure_roll(config, fixture, units, seed, backend="fork", inspect=None):
    """Deploy, then roll once; return the roll's figures (a JSON-able dict).

    `inspect(sim)`, if given, is called once the roll's checks have passed,
    before the simulation closes; its result is the figures' "inspected".
    """
    charm = str(charmbuild.build_charm(fixture))
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        with Simulation(charm, units=units, seed=seed, backend=backend, workdir=workdir) as sim:
            deploy_hooks = check_quiesced(sim, max_hooks=_budget(units))
            since, first_hook, first_call = sim.now, len(sim.trace), len(sim.tool_calls)
            started = time.perf_counter()
            sim.set_config(generation=1)
            roll_hooks = check_quiesced(sim, max_hooks=_budget(units))
            wall = time.perf_counter() - started
            peak = check_max_concurrency(sim.journal, 1)
            check_all_requesters_acted(sim.journal, sim.units, since=since)
            check_no_granted_flags_at_rest(_granted_flags_at_rest(sim, config))
            begins = [r for r in sim.trace[first_hook:] if r.event == "begin"]
            calls = sim.tool_calls[first_call:]
            last = max(r.time for r in sim.trace[first_hook:] if r.event != "begin")
            per_hook = Counter()
            coord_per_hook = Counter()
            for call in calls:
                per_hook[call.context_id] += 1
                if call.argv[0] in COORDINATION_TOOLS:
                    coord_per_hook[call.context_id] += 1
            by_role = defaultdict(list)
            by_hook = defaultdict(list)
            for r in begins:
                role = "leader" if r.leader else "non-leader"
                by_role[role].append(coord_per_hook[r.context_id])
                by_hook[(role, _hook_kind(r.hook))].append(coord_per_hook[r.context_id])
            figures = {
                "config": config,
                "units": units,
                "seed": seed,
                "deploy_hooks": deploy_hooks,
                "roll_hooks": roll_hooks,
                "roll_calls": len(calls),
                "roll_coord_calls": sum(coord_per_hook.values()),
                "calls_per_hook": len(calls) / max(1, len(begins)),
                "coord_by_role": {k: _stats(v) for k, v in sorted(by_role.items())},
                "coord_by_hook": {"%s %s" % k: _stats(v) for k, v in sorted(by_hook.items())},
                "wall_seconds": wall,
                "wall_ms_per_hook": 1000.0 * wall / max(1, roll_hooks),
                "simulated_seconds": last - since,
                "peak": peak,
            }
            if inspect is not None:
                figures["inspected"] = inspect(sim)
            return figures


def _granted_flags_at_rest(sim, config):
    """{unit: its flags} to check at rest; see STALE_GRANTED_FLAGS."""
    flags = {u: sim.flags(u) for u in sim.units}
    if config not in STALE_GRANTED_FLAGS:
        return flags
    requested = {
        u: json.loads(sim.relation_settings(u).get("coordinator") or "{}") for u in sim.units
    }
    return {
        u: [
            f
            for f in found
            if f.startswith(GRANTED_PREFIX) and f[len(GRANTED_PREFIX) :] in requested[u]
        ]
        for u, found in flags.items()
    }


def _hook_kind(name):
    return name.replace("coordinator-relation-", "relation-")


def _stats(values):
    return {
        "hooks": len(values),
        "mean": statistics.fmean(values) if values else 0.0,
        "min": min(values) if values else 0,
        "max": max(values) if values else 0,
    }


def measure_overhead(label, fixture, hooks, seed):
    """Mean CPU seconds of an update-status hook process (exec backend, 3 units)."""
    charm = str(charmbuild.build_charm(fixture))
    costs = CostModel(update_status_interval=60.0)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        with Simulation(
            charm,
            units=3,
            seed=seed,
            backend="exec",
            workdir=workdir,
            costs=costs,
            update_status=True,
        ) as sim:
            sim.run_until_quiet(max_hooks=_budget(3))
            first = len(sim.trace)
            sim.run_for(60.0 * (hooks // 3 + 1), max_hooks=10 * hooks)
            cpu = [
                r.cpu
                for r in sim.trace[first:]
                if r.event == "commit" and r.hook == "update-status" and r.cpu is not None
            ][:hooks]
            calls = Counter(c.context_id for c in sim.tool_calls if c.hook == "update-status")
            ids = [
                r.context_id
                for r in sim.trace[first:]
                if r.event == "begin" and r.hook == "update-status"
            ]
    return {
        "config": label,
        "cpu": cpu,
        "calls_mean": statistics.fmean(calls[i] for i in ids) if ids else 0.0,
    }


def _overhead(args, rounds=6):
    """measure_overhead for each configuration, in alternating rounds.

    CPU time per hook drifts with whatever else the machine runs; taking
    the configurations in turn, a slice at a time, exposes them to the same
    drift, so their difference is the layer's and not the load's.
    """
    per_round = max(3, args.overhead_hooks // rounds)
    samples = {label: [] for label, _ in (*CONFIGS, NO_LAYER)}
    calls = {label: [] for label in samples}
    for r in range(rounds):
        for label, fixture in (*CONFIGS, NO_LAYER):
            o = measure_overhead(label, fixture, per_round, args.seed + r)
            samples[label].extend(o["cpu"])
            calls[label].append(o["calls_mean"])
    return [
        {
            "config": label,
            "hooks": len(cpu),
            "cpu_ms_mean": 1000.0 * statistics.fmean(cpu),
            "cpu_ms_median": 1000.0 * statistics.median(cpu),
            "calls_mean": statistics.fmean(calls[label]),
        }
        for label, cpu in samples.items()
    ]


def render(rolls, overhead, args, elapsed, date=None, sources=None):
    out = []
    costs = CostModel()
    out.append(
        "layer:coordinator benchmark: %s, Python %s, %d CPUs, %s"
        % (
            platform.platform(terse=True),
            platform.python_version(),
            os.cpu_count() or 0,
            date or time.strftime("%Y-%m-%d"),
        )
    )
    if sources:
        out.append(
            "merged from %d runs of tests/bench/bench.py, seed %d (%s; together %.0f s)"
            % (len(sources), args.seed, ", ".join(sources), elapsed)
        )
    else:
        out.append(
            "command: python tests/bench/bench.py --units %s --seed %d (took %.0f s)"
            % (",".join(str(n) for n in args.units), args.seed, elapsed)
        )
    out.append(
        "cost model: hook start %.2f s + %.3f s per hook-tool call + exit %.2f s "
        "(each +-%d%%), guarded work %.0f s; one hook at a time per unit, units in parallel"
        % (
            costs.hook_startup,
            costs.tool_call,
            costs.hook_exit,
            round(costs.jitter * 100),
            GUARDED_WORK,
        )
    )
    out.append("")
    out.append("Rolling restart of every unit, one at a time (coordination calls =")
    out.append("relation-get/-set/-ids/-list, leader-get/-set, is-leader):")
    out.append("")
    head = "%5s  %-9s  %7s  %9s  %7s  %9s  %9s  %8s  %9s  %9s" % (
        "units",
        "config",
        "hooks",
        "3N(N-1)",
        "calls",
        "coord",
        "coord/hk",
        "sim wall",
        "ms/hook",
        "roll time",
    )
    out.append(head)
    out.append("-" * len(head))
    index = {(r["config"], r["units"]): r for r in rolls}
    present = {r["config"] for r in rolls}
    labels = [c for c, _ in CONFIGS] + [LEGACY_BASELINE]
    baselines = [c for c in labels if c != "layer" and c in present and "layer" in present]
    for n in args.units:
        for config in labels:
            r = index.get((config, n))
            if r is None:
                continue
            out.append(
                "%5d  %-9s  %7d  %9d  %7d  %9d  %9.1f  %7.1fs  %9.1f  %8.0fs"
                % (
                    n,
                    config,
                    r["roll_hooks"],
                    3 * n * (n - 1),
                    r["roll_calls"],
                    r["roll_coord_calls"],
                    r["roll_coord_calls"] / max(1, r["roll_hooks"]),
                    r["wall_seconds"],
                    r["wall_ms_per_hook"],
                    r["simulated_seconds"],
                )
            )
        for baseline in baselines:
            a, b = index.get((baseline, n)), index.get(("layer", n))
            if not (a and b):
                continue
            out.append(
                "%5s  %-9s  %7.2f  %9s  %7.2f  %9.2f  %9.2f  %8.2f  %9.2f  %9.2f"
                % (
                    "",
                    "ratio",
                    a["roll_hooks"] / b["roll_hooks"],
                    "",
                    a["roll_calls"] / b["roll_calls"],
                    a["roll_coord_calls"] / max(1, b["roll_coord_calls"]),
                    (a["roll_coord_calls"] / max(1, a["roll_hooks"]))
                    / max(1e-9, b["roll_coord_calls"] / max(1, b["roll_hooks"])),
                    a["wall_seconds"] / b["wall_seconds"],
                    a["wall_ms_per_hook"] / b["wall_ms_per_hook"],
                    a["simulated_seconds"] / b["simulated_seconds"],
                )
            )
    if baselines:
        out.append("(ratio = %s)" % ", then ".join("%s / layer" % c for c in baselines))
    out.append("")
    out.append("Coordination calls per hook during the roll, mean [min-max], by role:")
    out.append("")
    head = "%5s  %-9s  %-24s  %-24s" % ("units", "config", "leader", "non-leader")
    out.append(head)
    out.append("-" * len(head))
    for n in args.units:
        for config in labels:
            r = index.get((config, n))
            if r is None:
                continue
            cells = []
            for role in ("leader", "non-leader"):
                s = r["coord_by_role"].get(role)
                cells.append(
                    "%.1f [%d-%d] in %d hooks" % (s["mean"], s["min"], s["max"], s["hooks"])
                    if s
                    else "-"
                )
            out.append("%5d  %-9s  %-24s  %-24s" % (n, config, cells[0], cells[1]))
    out.append("")
    out.append("Coordination calls per hook by role and hook, mean (hooks):")
    for n in args.units:
        for config in labels:
            r = index.get((config, n))
            if r is None:
                continue
            cells = [
                "%s %.1f (%d)" % (k, s["mean"], s["hooks"])
                for k, s in sorted(r["coord_by_hook"].items())
            ]
            out.append("  N=%d %s: %s" % (n, config, "; ".join(cells)))
    if overhead:
        out.append("")
        out.append(
            "Per-hook overhead: update-status on 3 units, exec backend (a new Python per hook,"
        )
        out.append("imports included); CPU time of the hook process and its tool shims, the")
        out.append("configurations measured in six alternating rounds:")
        out.append("")
        head = "%-10s  %6s  %12s  %14s  %11s" % (
            "config",
            "hooks",
            "CPU ms mean",
            "CPU ms median",
            "tool calls",
        )
        out.append(head)
        out.append("-" * len(head))
        base = next((o for o in overhead if o["config"] == NO_LAYER[0]), None)
        for o in overhead:
            extra = ""
            if base is not None and o is not base:
                extra = "  (+%.1f ms, x%.2f)" % (
                    o["cpu_ms_median"] - base["cpu_ms_median"],
                    o["cpu_ms_median"] / base["cpu_ms_median"],
                )
            out.append(
                "%-10s  %6d  %12.1f  %14.1f  %11.1f%s"
                % (
                    o["config"],
                    o["hooks"],
                    o["cpu_ms_mean"],
                    o["cpu_ms_median"],
                    o["calls_mean"],
                    extra,
                )
            )
    return "\n".join(out)


def merge_runs(paths):
    """One run's data from several --json files (runs split by size or configuration).

    Rolls add up, a later file's roll replacing an earlier one of the same
    configuration and size; the overhead table is the last file's that has
    one; every file must use the same seed, so the rolls stay comparable.
    """
    rolls, overhead, units, elapsed, dates, seeds = {}, [], set(), 0.0, [], set()
    sources = []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        sources.append(
            "--units %s%s"
            % (
                ",".join(str(n) for n in data["args"]["units"]),
                " --configs %s" % data["args"]["configs"] if data["args"].get("configs") else "",
            )
        )
        seeds.add(data["args"]["seed"])
        units.update(data["args"]["units"])
        elapsed += data["elapsed"]
        if data.get("date") and data["date"] not in dates:
            dates.append(data["date"])
        for roll in data["rolls"]:
            rolls[(roll["config"], roll["units"])] = roll
        overhead = data.get("overhead") or overhead
    if len(seeds) != 1:
        raise ValueError("the files ran different seeds (%s)" % sorted(seeds))
    return {
        "args": {"units": sorted(units), "seed": seeds.pop()},
        "elapsed": elapsed,
        "date": ", ".join(dates) or None,
        "rolls": [rolls[k] for k in sorted(rolls, key=lambda k: (k[1], k[0]))],
        "overhead": overhead,
        "sources": sources,
    }


def _units(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give unit counts >= 1, such as 3,10,30,100")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=_units, default=[3, 10, 30, 100])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--configs",
        default="layer,original",
        help="which configurations to roll (default both: layer,original)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="simulations run at once")
    parser.add_argument("--overhead-hooks", type=int, default=60)
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument(
        "--from-json",
        nargs="+",
        metavar="FILE",
        help="print the tables of earlier runs' --json files together, run nothing",
    )
    args = parser.parse_args(argv)

    if args.from_json:
        try:
            data = merge_runs(args.from_json)
        except (OSError, ValueError, KeyError) as e:
            parser.error("cannot read --from-json: %s" % e)
        args.units = data["args"]["units"]
        args.seed = data["args"]["seed"]
        print(
            render(
                data["rolls"],
                data["overhead"],
                args,
                data["elapsed"],
                data.get("date"),
                data["sources"] if len(data["sources"]) > 1 else None,
            )
        )
        return 0
    started = time.perf_counter()
    fixtures = [f for _, f in CONFIGS] + [NO_LAYER[1]]
    charmbuild.prebuild(fixtures, jobs=2)
    wanted = {c.strip() for c in args.configs.split(",")}
    unknown = wanted - {c for c, _ in CONFIGS}
    if unknown:
        parser.error("unknown configuration(s) %s: use layer, original" % ", ".join(unknown))
    jobs = [
        (c, f, n, args.seed)
        for n in sorted(args.units, reverse=True)
        for c, f in CONFIGS
        if c in wanted
    ]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(measure_roll, *job) for job in jobs]
        rolls = [f.result() for f in futures]
    overhead = _overhead(args) if args.overhead_hooks > 0 else []
    elapsed = time.perf_counter() - started
    print(render(rolls, overhead, args, elapsed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "args": {"units": args.units, "seed": args.seed, "configs": args.configs},
                    "elapsed": elapsed,
                    "date": time.strftime("%Y-%m-%d"),
                    "rolls": rolls,
                    "overhead": overhead,
                },
                f,
                indent=1,
                sort_keys=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
