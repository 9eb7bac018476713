"""What layer:coordinator costs per hook and per rolling restart (`make bench`).

Runs the rolling-restart fixture charm, built with the real ``charm build``,
on the simulator for each application size and each Juju version asked for
(jujusim profiles, ``--juju 3.6,4`` by default), in two configurations side
by side on the same seeds:

- ``layer``: the layer as shipped, with its default policy (SimpleCoordinator);
- ``original``: the same charm built on the original layer:coordinator's
  protocol, with that layer's default policy (its SimpleCoordinator): the
  test-only stand-in ``tests/layers/coordinator-original`` staged as
  layer:coordinator (fixture ``rolling-restart-original``). It runs
  charmhelpers.coordinator's own protocol as the original does: every hook
  reads every peer's request and rewrites its own, and in relation hooks the
  peer endpoint reads every peer's data again; a non-leader's hook costs N+8
  coordination calls, 2N+7 in ``coordinator-relation-*`` hooks (one more in
  the hook that asks for the lock), as measured on the original layer. Its
  protocol keeps the grants in leader settings: it runs only on a profile
  that has ``leader-get`` and ``leader-set`` (3.6, not 4); on the others it
  is left out with a note under the first table.

For each size it deploys the application, waits until the model is quiet,
changes the ``generation`` option once and runs the rolling restart to quiet,
then reports for the roll: hooks run, hook-tool calls (all, and coordination
calls: relation-* including the application databag's ``relation-get
--app``/``relation-set --app``, leader-*, is-leader), coordination calls per
hook by role (leader, non-leader) and by hook, the simulator's wall time,
and the simulated duration of the roll under the cost model printed with
the table. Every table has a ``juju`` column: the profile of its figures.

A second table measures the layer's own overhead per hook: the CPU time of a
hook process (the exec backend: a new Python process per hook, as Juju runs
it, imports included) and its hook-tool calls for update-status hooks of the
fixture with the layer, on the original layer, and of the same charm without
the layer (``no-coordinator``), on each profile, the configurations taken in
turn in alternating rounds. Each configuration's row is printed for all its
hooks and split by role: the leader's hooks and the non-leaders', the role
of a hook being its unit's in the simulator as the hook began (the trace's
``leader``), not what the charm says. Rows of earlier --json files, recorded
before the split, print under ``all``.

``--before REV`` (a git revision of this repository, such as ``main~3`` or a
sha) adds to that table the fixture built on the layer as it was at REV:
``git archive REV`` unpacked into a temporary folder and staged as
layer:coordinator in place of the working tree (charmbuild's
``layer_source``; the build is cached by content, so a REV whose shipped
layer files equal the working tree's shares its build, which the run says).
It is measured in the same rounds as ``layer before (<short sha>)``, beside
``layer`` and ``no layer`` (``original`` only if --configs names it), so one
run prints before, after and no layer side by side on each profile.

After that table, the targets of a quiet hook (issue 23), judged per profile
from the ``layer`` row against no layer's of the same role: a non-leader's
update-status at most 2 hook-tool calls (mean) and 10 ms CPU (median) more,
the leader's at most 5 calls more; the ``layer before`` figures are printed
beside for reading, not judged, and a target with a figure missing says
"not judged".

Last, the layer's roll targets, each computed from the rolls and printed as
met or not met with its numbers, per profile: coordination calls per
non-leader hook at most 5 on average and flat across N, per leader hook at
most 8 on average (the max, printed beside, is a hook that also writes: one
call more), coordination hooks per roll at most 5 % above 3N(N-1) (below it
is printed too: Juju coalesced a notification, which costs nothing), and at N=100
a roll time at most 1.1 x N x the guarded work. Coordination hooks are the
roll's hooks less the config-changed hooks that start it (one per unit, run
with or without the layer); both counts are printed.

Usage: python tests/bench/bench.py [--units 3,10,30,100] [--juju 3.6,4] [--seed 1]
       [--configs layer,original] [--jobs 2] [--overhead-hooks 60] [--before REV]
       [--json FILE]
       python tests/bench/bench.py --from-json FILE...  (earlier runs as one table)

``--from-json`` prints files of earlier runs too; a file from before the
figures named their profile is labelled ``2.9`` (jujusim's rules then).

Nothing here asserts a speed: the numbers are printed for people to read
(and for the README); the invariants of every roll are still checked, and a
roll that breaks one makes the benchmark exit 1.
"""

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter, defaultdict, namedtuple
from concurrent.futures import ProcessPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "functional"))

import charmbuild  # noqa: E402
from jujusim import CostModel, Simulation, by_name  # noqa: E402
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
# --before REV: the fixture built on the layer as it was at REV (git archive),
# measured beside the others in the per-hook overhead, under BEFORE_LABEL.
BEFORE_FIXTURE = "rolling-restart"
BEFORE_LABEL = "layer before (%s)"
# The baseline of runs before the original-protocol stand-in existed, kept so
# that their --json files (tests/bench/results/) still print: charmhelpers'
# protocol run by the shipped layer itself (its former option
# `protocol: charmhelpers`, with charmhelpers.coordinator.Serial).
LEGACY_BASELINE = "inherited"
# The Juju versions (jujusim profiles) measured unless told otherwise, and the
# one measure_roll uses unless told: the current Juju.
JUJU = ("3.6", "4")
DEFAULT_JUJU = "4"
# The profile of figures recorded before they named one: jujusim's default
# rules then (Juju 2.9 to 3.6 machine charms, JUJU_VERSION 2.9.49).
LEGACY_JUJU = "2.9"
# Hook tools a configuration's protocol cannot do without: where a profile
# lacks one (Juju 4 has no leader settings), the configuration is not run.
NEEDS_TOOLS = {"original": ("leader-get", "leader-set")}
# Coordination calls: a call is counted by its tool name, so the application
# databag's `relation-get --app` and `relation-set --app` (the layer's grants)
# count as the relation-get/relation-set they are; leader-get/leader-set stay
# for the original layer's protocol, which keeps its grants there.
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
# The layer's targets (printed with `targets`): coordination calls per hook,
# on average, of a non-leader and of the leader; how far coordination hooks per roll may
# be above 3N(N-1) (a cost bound: Juju coalesces a notification that arrives
# while the unit's hook for it is still queued, so a roll can take fewer hooks
# than the model counts, and fewer hooks cost nothing; the invariants checked
# on every roll, each unit working once, are what catch missing work); the
# size at which, and the factor of N x GUARDED_WORK within which, a roll must
# end; and how much the non-leader mean may grow
# across N and still count as flat (the max may not grow at all).
TARGET_NON_LEADER = 5
TARGET_LEADER = 8
TARGET_HOOKS_SLACK = 0.05
TARGET_ROLL_UNITS = 100
TARGET_ROLL_FACTOR = 1.1
TARGET_FLAT_GROWTH = 0.10
# The targets of a quiet hook (issue 23), judged from the per-hook overhead of
# the `layer` configuration against no layer's on the same profile and role, as
# (role, figure, limit): update-status hook-tool calls (mean) at most `limit`
# more, or its CPU time (median) at most `limit` ms more.
TARGET_QUIET = (
    ("non-leader", "calls", 2),
    ("non-leader", "cpu", 10.0),
    ("leader", "calls", 5),
)


def _budget(units):
    """Hooks allowed before a run counts as a hook loop: far above 3*N*(N-1)."""
    return 50 * units * units + 2000


def runnable(config, juju):
    """Whether configuration `config` can run on profile `juju` (see NEEDS_TOOLS)."""
    return set(NEEDS_TOOLS.get(config, ())) <= set(by_name(juju).tools)


def _not_runnable_note(config, juju):
    return "%s: not run on Juju %s: its protocol needs %s, which Juju %s does not have" % (
        config,
        juju,
        "/".join(t for t in NEEDS_TOOLS[config] if t not in by_name(juju).tools),
        juju,
    )


def plan_rolls(configs, units, profiles, seed):
    """The rolls to run, largest size first, as measure_roll's arguments
    (config, fixture, units, seed), plus the notes on what cannot run where."""
    jobs, notes = [], []
    for juju in profiles:
        for config, _ in CONFIGS:
            if config in configs and not runnable(config, juju):
                notes.append(_not_runnable_note(config, juju))
    for n in sorted(units, reverse=True):
        for juju in profiles:
            for config, fixture in CONFIGS:
                if config in configs and runnable(config, juju):
                    jobs.append((config, fixture, n, seed, juju))
    return jobs, notes


def measure_roll(config, fixture, units, seed, juju=DEFAULT_JUJU, backend="fork", inspect=None):
    """Deploy on Juju `juju`, then roll once; return the roll's figures (a JSON-able dict).

    `inspect(sim)`, if given, is called once the roll's checks have passed,
    before the simulation closes; its result is the figures' "inspected".
    """
    charm = str(charmbuild.build_charm(fixture))
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        with Simulation(
            charm,
            units=units,
            seed=seed,
            backend=backend,
            workdir=workdir,
            profile=by_name(juju),
        ) as sim:
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
                "juju": juju,
                "units": units,
                "seed": seed,
                "deploy_hooks": deploy_hooks,
                "roll_hooks": roll_hooks,
                "trigger_hooks": sum(1 for r in begins if r.hook == "config-changed"),
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


ROLES = ("leader", "non-leader")


def _role_of(leader):
    return "leader" if leader else "non-leader"


def measure_overhead(label, fixture, hooks, seed, juju=DEFAULT_JUJU, layer_source=None):
    """The first `hooks` update-status hooks of 3 units (exec backend, Juju `juju`), each as
    {"unit", "role", "cpu", "calls"}: the role of its unit as the hook began (the
    simulator's leader then: its trace's `leader`), the CPU seconds of its process and
    its hook-tool calls. `layer_source` is charmbuild's: the layer staged in the fixture.
    """
    charm = str(charmbuild.build_charm(fixture, layer_source=layer_source))
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
            profile=by_name(juju),
        ) as sim:
            sim.run_until_quiet(max_hooks=_budget(3))
            first = len(sim.trace)
            sim.run_for(60.0 * (hooks // 3 + 1), max_hooks=10 * hooks)
            trace = [r for r in sim.trace[first:] if r.hook == "update-status"]
            calls = Counter(c.context_id for c in sim.tool_calls if c.hook == "update-status")
    began = {r.context_id: r.leader for r in trace if r.event == "begin"}
    measured = [
        {
            "unit": r.unit,
            "role": _role_of(began[r.context_id]),
            "cpu": r.cpu,
            "calls": calls[r.context_id],
        }
        for r in trace
        if r.event == "commit" and r.cpu is not None and r.context_id in began
    ]
    return {"config": label, "juju": juju, "hooks": measured[:hooks]}


def _overhead_figures(hooks):
    """CPU ms (mean, median) and hook-tool calls (mean) of measured hooks (not none)."""
    cpu = [h["cpu"] for h in hooks]
    return {
        "hooks": len(hooks),
        "cpu_ms_mean": 1000.0 * statistics.fmean(cpu),
        "cpu_ms_median": 1000.0 * statistics.median(cpu),
        "calls_mean": statistics.fmean(h["calls"] for h in hooks),
    }


def overhead_row(label, juju, hooks):
    """One configuration's row on one profile: its figures over all `hooks`
    (measure_overhead's), and in "by_role" those of each role that ran any."""
    row = {"config": label, "juju": juju}
    row.update(_overhead_figures(hooks) if hooks else {"hooks": 0})
    row["by_role"] = {
        role: _overhead_figures([h for h in hooks if h["role"] == role])
        for role in ROLES
        if any(h["role"] == role for h in hooks)
    }
    return row


def overhead_configs(wanted, before=None):
    """The configurations of the per-hook overhead, as (label, fixture, layer_source).

    Without `before`: every configuration (CONFIGS) and no layer, whatever
    `wanted` (--configs) says. With `before`, (label, folder of the layer
    at the earlier revision): that one first, then layer, the other
    configurations of `wanted` (--configs), and no layer.
    """
    if before is None:
        return [(label, fixture, None) for label, fixture in (*CONFIGS, NO_LAYER)]
    label, folder = before
    return (
        [(label, BEFORE_FIXTURE, folder)]
        + [(c, fixture, None) for c, fixture in CONFIGS if c == "layer" or c in wanted]
        + [(*NO_LAYER, None)]
    )


def plan_overhead(configs, profiles):
    """The configurations whose overhead to measure, per profile, as
    (label, fixture, juju, layer_source): every one of `configs`, a list of
    (label, fixture, layer_source), that `runnable` allows there."""
    return [
        (label, fixture, juju, source)
        for juju in profiles
        for label, fixture, source in configs
        if runnable(label, juju)
    ]


def _overhead(plan, hooks, seed, rounds=6):
    """measure_overhead for each entry of `plan` (plan_overhead's), in alternating rounds.

    CPU time per hook drifts with whatever else the machine runs; taking
    the configurations in turn, a slice at a time, exposes them to the same
    drift, so their difference is the layer's and not the load's.
    """
    per_round = max(3, hooks // rounds)
    measured = {(label, juju): [] for label, _, juju, _ in plan}
    for r in range(rounds):
        for label, fixture, juju, source in plan:
            o = measure_overhead(label, fixture, per_round, seed + r, juju, source)
            measured[label, juju].extend(o["hooks"])
    return [overhead_row(label, juju, found) for (label, juju), found in measured.items()]


def _version_key(name):
    """Sort profile names as versions: 2.9 < 3.6 < 4."""
    try:
        return tuple(int(part) for part in name.split(".")), name
    except ValueError:
        return (10**9,), name


def render(rolls, overhead, args, elapsed, date=None, sources=None, notes=()):
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
            "command: python tests/bench/bench.py --units %s --juju %s --seed %d%s (took %.0f s)"
            % (
                ",".join(str(n) for n in args.units),
                ",".join(args.juju),
                args.seed,
                _before_option(getattr(args, "before", None)),
                elapsed,
            )
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
    profiles = sorted({r["juju"] for r in rolls} | {o["juju"] for o in overhead}, key=_version_key)
    out.append(
        "juju: the jujusim profile of each figure (%s)"
        % "; ".join(_profile_text(name) for name in profiles)
    )
    out.append("")
    out.append("Rolling restart of every unit, one at a time (coordination calls =")
    out.append("relation-get/-set (--app too)/-ids/-list, leader-get/-set, is-leader):")
    out.append("")
    head = "%5s  %-4s  %-9s  %7s  %9s  %7s  %9s  %9s  %8s  %9s  %9s" % (
        "units",
        "juju",
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
    index = {(r["config"], r["units"], r["juju"]): r for r in rolls}
    present = {r["config"] for r in rolls}
    labels = [c for c, _ in CONFIGS] + [LEGACY_BASELINE]
    baselines = [c for c in labels if c != "layer" and c in present and "layer" in present]
    ratios = False
    for n in args.units:
        for juju in profiles:
            for config in labels:
                r = index.get((config, n, juju))
                if r is None:
                    continue
                out.append(
                    "%5d  %-4s  %-9s  %7d  %9d  %7d  %9d  %9.1f  %7.1fs  %9.1f  %8.0fs"
                    % (
                        n,
                        juju,
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
                a, b = index.get((baseline, n, juju)), index.get(("layer", n, juju))
                if not (a and b):
                    continue
                ratios = True
                out.append(
                    "%5s  %-4s  %-9s  %7.2f  %9s  %7.2f  %9.2f  %9.2f  %8.2f  %9.2f  %9.2f"
                    % (
                        "",
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
    if ratios:
        out.append(
            "(ratio = %s, on the same Juju)" % ", then ".join("%s / layer" % c for c in baselines)
        )
    for note in notes:
        out.append("(%s)" % note)
    out.append("")
    out.append("Coordination calls per hook during the roll, mean [min-max], by role:")
    out.append("")
    head = "%5s  %-4s  %-9s  %-24s  %-24s" % ("units", "juju", "config", "leader", "non-leader")
    out.append(head)
    out.append("-" * len(head))
    for n in args.units:
        for juju in profiles:
            for config in labels:
                r = index.get((config, n, juju))
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
                out.append("%5d  %-4s  %-9s  %-24s  %-24s" % (n, juju, config, cells[0], cells[1]))
    out.append("")
    out.append("Coordination calls per hook by role and hook, mean (hooks):")
    for n in args.units:
        for juju in profiles:
            for config in labels:
                r = index.get((config, n, juju))
                if r is None:
                    continue
                cells = [
                    "%s %.1f (%d)" % (k, s["mean"], s["hooks"])
                    for k, s in sorted(r["coord_by_hook"].items())
                ]
                out.append("  N=%d juju %s %s: %s" % (n, juju, config, "; ".join(cells)))
    out.extend(overhead_table(overhead, profiles))
    out.extend(quiet_targets(overhead, profiles))
    out.extend(targets(rolls, args.units, profiles))
    return "\n".join(out)


def _role_figures(row, role):
    """A row's figures for `role` ("all", or one of ROLES), None if it has none.

    Rows recorded before the overhead was split by role have "all" only."""
    if role == "all":
        return row if row.get("hooks") and "cpu_ms_median" in row else None
    return (row.get("by_role") or {}).get(role)


def _row_roles(row):
    return ("all",) + tuple(role for role in ROLES if role in (row.get("by_role") or {}))


def overhead_table(overhead, profiles):
    """The lines of the per-hook overhead table: per profile, each configuration's
    update-status hooks, all and by role, each compared with no layer's of the same
    profile and role (CPU median)."""
    if not overhead:
        return []
    out = [
        "",
        "Per-hook overhead: update-status on 3 units, exec backend (a new Python per hook,",
        "imports included); CPU time of the hook process and its tool shims, the",
        "configurations measured in six alternating rounds; role: the unit's as the hook",
        "began (the simulator's leader), all = both:",
        "",
    ]
    width = max([10] + [len(o["config"]) for o in overhead])
    head = "%-4s  %-*s  %-10s  %6s  %12s  %14s  %11s" % (
        "juju",
        width,
        "config",
        "role",
        "hooks",
        "CPU ms mean",
        "CPU ms median",
        "tool calls",
    )
    out.append(head)
    out.append("-" * len(head))
    for juju in profiles:
        rows = [o for o in overhead if o["juju"] == juju]
        base = next((o for o in rows if o["config"] == NO_LAYER[0]), None)
        for o in rows:
            for role in _row_roles(o):
                f = _role_figures(o, role)
                if f is None:
                    out.append(
                        "%-4s  %-*s  %-10s  %6d  %12s  %14s  %11s"
                        % (juju, width, o["config"], role, 0, "-", "-", "-")
                    )
                    continue
                b = _role_figures(base, role) if base is not None and o is not base else None
                extra = ""
                if b is not None:
                    extra = "  (%+.1f ms, x%.2f)" % (
                        f["cpu_ms_median"] - b["cpu_ms_median"],
                        f["cpu_ms_median"] / b["cpu_ms_median"],
                    )
                out.append(
                    "%-4s  %-*s  %-10s  %6d  %12.1f  %14.1f  %11.1f%s"
                    % (
                        juju,
                        width,
                        o["config"],
                        role,
                        f["hooks"],
                        f["cpu_ms_mean"],
                        f["cpu_ms_median"],
                        f["calls_mean"],
                        extra,
                    )
                )
    for o in overhead:
        if o.get("layer_revision"):
            note = "(%s)" % _before_text(
                o["layer_revision"], o["config"], o.get("same_build_as_layer")
            )
            if note not in out:
                out.append(note)
    return out


def _quiet_figures(row, config, role):
    """(figures of `config`'s update-status hooks of `role`, None) or (None, why not)."""
    if row is None:
        return None, "%s: not measured" % config
    if not row.get("by_role"):
        return None, "%s: figures not split by role" % config
    figures = row["by_role"].get(role)
    if not figures or not figures.get("hooks"):
        return None, "%s: no %s hooks" % (config, role)
    return figures, None


def _quiet_difference(figure, f, b):
    """(text, difference) of figure "calls" or "cpu" between figures f and b."""
    if figure == "calls":
        diff = f["calls_mean"] - b["calls_mean"]
        return "%.2f - %.2f = %+.2f" % (f["calls_mean"], b["calls_mean"], diff), diff
    diff = f["cpu_ms_median"] - b["cpu_ms_median"]
    return "%.1f - %.1f = %+.1f ms" % (f["cpu_ms_median"], b["cpu_ms_median"], diff), diff


def quiet_targets(overhead, profiles):
    """The lines of the quiet-hook targets (TARGET_QUIET), judged per profile from
    the `layer` row of the per-hook overhead against no layer's; the figures of a
    `layer before` row are printed beside, for reading, not judged. A target with
    a figure missing says so."""
    if not overhead:
        return []
    out = [
        "",
        "Targets of a quiet hook (config layer), judged from the update-status hooks above",
        "against no layer's of the same role on the same Juju (tool calls: mean, CPU: median):",
    ]
    for juju in profiles:
        rows = [o for o in overhead if o["juju"] == juju]
        if not rows:
            continue
        layer = next((o for o in rows if o["config"] == "layer"), None)
        base = next((o for o in rows if o["config"] == NO_LAYER[0]), None)
        befores = [o for o in rows if o["config"].startswith(BEFORE_LABEL.partition("%s")[0])]
        out.append("  juju %s:" % juju)
        verdicts = []
        for role, figure, limit in TARGET_QUIET:
            what = (
                "tool calls <= no layer + %d" % limit
                if figure == "calls"
                else "CPU median <= no layer + %.0f ms" % limit
            )
            head = "    %s update-status, %s:" % (role, what)
            b, base_why = _quiet_figures(base, NO_LAYER[0], role)
            f, why = _quiet_figures(layer, "layer", role) if b is not None else (None, base_why)
            if f is None:
                verdicts.append(None)
                out.append("%s not judged (%s)" % (head, why))
            else:
                text, diff = _quiet_difference(figure, f, b)
                ok = round(diff, 6) <= limit
                verdicts.append(ok)
                out.append(
                    "%s %s (%d hooks; no layer %d): %s"
                    % (head, text, f["hooks"], b["hooks"], _verdict(ok))
                )
            for before in befores:
                g, why = _quiet_figures(before, before["config"], role)
                if g is None or b is None:
                    out.append("      %s: no figure (%s)" % (before["config"], why or base_why))
                    continue
                text, _ = _quiet_difference(figure, g, b)
                out.append("      %s: %s, for reading" % (before["config"], text))
        judged = [v for v in verdicts if v is not None]
        out.append(
            "    juju %s: %d of %d quiet-hook targets judged met%s%s"
            % (
                juju,
                sum(judged),
                len(judged),
                "" if all(judged) else ", %d NOT MET" % (len(judged) - sum(judged)),
                ""
                if len(judged) == len(verdicts)
                else ", %d not judged" % (len(verdicts) - len(judged)),
            )
        )
    return out


def _before_text(sha, label, same):
    return "%s: the layer at %s, built with this tree's fixture and stand-ins%s" % (
        label,
        sha,
        "; the layer's shipped files are the same: the same build as layer" if same else "",
    )


def _before_option(before):
    """--before REV of a run's command line: `before` is a Revision, or its rev (--from-json)."""
    return " --before %s" % getattr(before, "rev", before) if before else ""


def _profile_text(name):
    try:
        profile = by_name(name)
    except ValueError:
        return "%s: unknown to this jujusim" % name
    text = "%s: %s, JUJU_VERSION %s" % (name, profile.name, profile.version)
    if name == LEGACY_JUJU:
        text += " (and figures recorded before they named a profile)"
    return text


def _verdict(ok):
    return "met" if ok else "NOT MET"


def targets(rolls, units, profiles):
    """The lines of the layer's targets, each judged from the `layer` rolls.

    Per profile and size: coordination calls per non-leader hook (mean and
    max) at most TARGET_NON_LEADER, and flat across the sizes measured (the
    max at every size no higher than at the smallest, the mean at most
    TARGET_FLAT_GROWTH above the smallest size's); per leader hook at most
    TARGET_LEADER; hooks per roll at most TARGET_HOOKS_SLACK above 3N(N-1); and,
    at N=TARGET_ROLL_UNITS, a roll time at most TARGET_ROLL_FACTOR x N x
    GUARDED_WORK. A target with nothing to judge it on says so.
    """
    index = {(r["units"], r["juju"]): r for r in rolls if r["config"] == "layer"}
    if not index:
        return []
    out = [
        "",
        "Targets of the layer (config layer), judged from the rolls above:",
    ]
    for juju in profiles:
        sizes = [n for n in units if (n, juju) in index]
        if not sizes:
            continue
        verdicts = []
        out.append("  juju %s:" % juju)
        for role, limit in (("non-leader", TARGET_NON_LEADER), ("leader", TARGET_LEADER)):
            out.append("    coordination calls per %s hook, mean <= %d:" % (role, limit))
            for n in sizes:
                s = index[n, juju]["coord_by_role"].get(role)
                if not s or not s["hooks"]:
                    out.append("      N=%d: no %s hooks in the roll: not judged" % (n, role))
                    continue
                ok = s["mean"] <= limit
                verdicts.append(ok)
                out.append(
                    "      N=%d: mean %.2f, max %d in %d hooks: %s"
                    % (n, s["mean"], s["max"], s["hooks"], _verdict(ok))
                )
            if role == "non-leader":
                line, ok = _flat(index, juju, sizes)
                out.append("      " + line)
                if ok is not None:
                    verdicts.append(ok)
        out.append(
            "    coordination hooks per roll at most %d%% above 3N(N-1) (fewer: coalesced):"
            % round(100 * TARGET_HOOKS_SLACK)
        )
        for n in sizes:
            roll = index[n, juju]
            total, want = roll["roll_hooks"], 3 * n * (n - 1)
            hooks = total - roll.get("trigger_hooks", 0)
            if want == 0:
                out.append("      N=%d: 3N(N-1) = 0, %d hooks: not judged" % (n, hooks))
                continue
            ok = hooks - want <= TARGET_HOOKS_SLACK * want
            verdicts.append(ok)
            out.append(
                "      N=%d: %d hooks (%d with config-changed), 3N(N-1) = %d (%+.1f%%): %s"
                % (n, hooks, total, want, 100.0 * (hooks - want) / want, _verdict(ok))
            )
        n = TARGET_ROLL_UNITS
        limit = TARGET_ROLL_FACTOR * n * GUARDED_WORK
        out.append(
            "    roll time at N=%d <= %.1f x N x guarded work (%.0f s) = %.0f s:"
            % (n, TARGET_ROLL_FACTOR, GUARDED_WORK, limit)
        )
        for size in sizes:
            took = index[size, juju]["simulated_seconds"]
            per = took / (size * GUARDED_WORK)
            if size == n:
                ok = took <= limit
                verdicts.append(ok)
                out.append(
                    "      N=%d: %.0f s (%.2f x N x %.0f s): %s"
                    % (size, took, per, GUARDED_WORK, _verdict(ok))
                )
            else:
                out.append(
                    "      N=%d: %.0f s (%.2f x N x %.0f s): for reading, the target is at N=%d"
                    % (size, took, per, GUARDED_WORK, n)
                )
        if n not in sizes:
            out.append("      N=%d: not measured: not judged" % n)
        out.append(
            "    juju %s: %d of %d targets judged met%s"
            % (
                juju,
                sum(verdicts),
                len(verdicts),
                "" if all(verdicts) else ", %d NOT MET" % (len(verdicts) - sum(verdicts)),
            )
        )
    return out


def _flat(index, juju, sizes):
    """(line, verdict or None): whether non-leader calls per hook stay flat across sizes."""
    stats = [(n, index[n, juju]["coord_by_role"].get("non-leader")) for n in sizes]
    stats = [(n, s) for n, s in stats if s and s["hooks"]]
    if len(stats) < 2:
        return "flat across N: one size only: not judged", None
    (first, base), rest = stats[0], stats[1:]
    top = base["mean"] * (1 + TARGET_FLAT_GROWTH)
    ok = all(s["max"] <= base["max"] and s["mean"] <= top for _, s in rest)
    return (
        "flat across N (max at every N <= %d, its value at N=%d; mean <= %.2f, %d%% above it): "
        "max %s, mean %s: %s"
        % (
            base["max"],
            first,
            top,
            round(100 * TARGET_FLAT_GROWTH),
            ", ".join("%d" % s["max"] for _, s in stats),
            ", ".join("%.2f" % s["mean"] for _, s in stats),
            _verdict(ok),
        ),
        ok,
    )


def merge_runs(paths):
    """One run's data from several --json files (runs split by size, profile or configuration).

    Rolls add up, a later file's roll replacing an earlier one of the same
    configuration, size and profile; overhead rows too, by configuration and
    profile; every file must use the same seed, so the rolls stay
    comparable. Figures from before they named a profile are LEGACY_JUJU's.
    """
    rolls, overhead, units, elapsed, dates, seeds = {}, {}, set(), 0.0, [], set()
    befores = []
    sources, notes, profiles = [], [], set()
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        sources.append(
            "--units %s%s%s%s"
            % (
                ",".join(str(n) for n in data["args"]["units"]),
                " --juju %s" % ",".join(data["args"]["juju"]) if data["args"].get("juju") else "",
                " --configs %s" % data["args"]["configs"] if data["args"].get("configs") else "",
                " --before %s" % data["args"]["before"] if data["args"].get("before") else "",
            )
        )
        seeds.add(data["args"]["seed"])
        if data["args"].get("before") and data["args"]["before"] not in befores:
            befores.append(data["args"]["before"])
        units.update(data["args"]["units"])
        elapsed += data["elapsed"]
        if data.get("date") and data["date"] not in dates:
            dates.append(data["date"])
        for roll in data["rolls"]:
            roll = dict(roll, juju=roll.get("juju") or LEGACY_JUJU)
            profiles.add(roll["juju"])
            rolls[(roll["config"], roll["units"], roll["juju"])] = roll
        for row in data.get("overhead") or []:
            row = dict(row, juju=row.get("juju") or LEGACY_JUJU)
            profiles.add(row["juju"])
            overhead[(row["config"], row["juju"])] = row
        notes.extend(n for n in data.get("notes") or [] if n not in notes)
    if len(seeds) != 1:
        raise ValueError("the files ran different seeds (%s)" % sorted(seeds))
    return {
        "args": {
            "units": sorted(units),
            "seed": seeds.pop(),
            "juju": sorted(profiles, key=_version_key),
            "before": ",".join(befores) or None,
        },
        "elapsed": elapsed,
        "date": ", ".join(dates) or None,
        "rolls": [rolls[k] for k in sorted(rolls, key=lambda k: (k[1], _version_key(k[2]), k[0]))],
        "overhead": list(overhead.values()),
        "sources": sources,
        "notes": notes,
    }


Revision = namedtuple("Revision", "rev sha short")
Revision.label = property(lambda self: BEFORE_LABEL % self.short)


def _git(*argv):
    return subprocess.run(["git", "-C", str(charmbuild.LAYER_SOURCE), *argv], capture_output=True)


def _revision(text):
    """--before: a git revision of this repository, as Revision(rev, sha, short)."""
    rev = text.strip()
    # Never hand git an option: a revision does not start with "-".
    ok = rev and not rev.startswith("-")
    found = _git("rev-parse", "--verify", "--quiet", rev + "^{commit}") if ok else None
    if not ok or found.returncode != 0:
        raise argparse.ArgumentTypeError(
            "%r is not a revision of %s (give one such as main~3 or a sha)"
            % (text, charmbuild.LAYER_SOURCE)
        )
    sha = found.stdout.decode().strip()
    short = _git("rev-parse", "--short", sha).stdout.decode().strip() or sha[:7]
    return Revision(rev, sha, short)


def unpack_revision(sha, dest):
    """Unpack this repository's tree at commit `sha` into the folder `dest` (git archive)."""
    archive = _git("archive", "--format=tar", sha)
    if archive.returncode != 0:
        raise RuntimeError("git archive %s failed: %s" % (sha, archive.stderr.decode()))
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _units(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give unit counts >= 1, such as 3,10,30,100")
    return values


def _profiles(text):
    values = []
    for name in (v.strip() for v in text.split(",")):
        if not name:
            continue
        try:
            by_name(name)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if name not in values:
            values.append(name)
    if not values:
        raise argparse.ArgumentTypeError("give Juju profiles, such as 3.6,4")
    return values


def _parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=_units, default=[3, 10, 30, 100])
    parser.add_argument(
        "--juju",
        type=_profiles,
        default=list(JUJU),
        help="the Juju versions (jujusim profiles) to measure on, side by side "
        "(default %s)" % ",".join(JUJU),
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--configs",
        default="layer,original",
        help="which configurations to roll (default both: layer,original)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="simulations run at once")
    parser.add_argument("--overhead-hooks", type=int, default=60)
    parser.add_argument(
        "--before",
        type=_revision,
        metavar="REV",
        help="also measure the per-hook overhead of the fixture built on the layer as it "
        "was at git revision REV, labelled 'layer before (<short sha>)', beside layer and "
        "no layer (original only if --configs names it)",
    )
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument(
        "--from-json",
        nargs="+",
        metavar="FILE",
        help="print the tables of earlier runs' --json files together, run nothing",
    )
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)

    if args.from_json:
        try:
            data = merge_runs(args.from_json)
        except (OSError, ValueError, KeyError) as e:
            parser.error("cannot read --from-json: %s" % e)
        args.units = data["args"]["units"]
        args.seed = data["args"]["seed"]
        args.juju = data["args"]["juju"]
        args.before = data["args"]["before"]
        print(
            render(
                data["rolls"],
                data["overhead"],
                args,
                data["elapsed"],
                data.get("date"),
                data["sources"] if len(data["sources"]) > 1 else None,
                data["notes"],
            )
        )
        return 0
    wanted = {c.strip() for c in args.configs.split(",")}
    unknown = wanted - {c for c, _ in CONFIGS}
    if unknown:
        parser.error("unknown configuration(s) %s: use layer, original" % ", ".join(unknown))
    if args.before is not None and args.overhead_hooks <= 0:
        parser.error("--before is measured in the per-hook overhead: give --overhead-hooks > 0")
    jobs, notes = plan_rolls(wanted, args.units, args.juju, args.seed)
    for note in notes:
        print("note: %s" % note, file=sys.stderr, flush=True)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        before = None
        if args.before is not None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-before-"))
            before = (args.before.label, unpack_revision(args.before.sha, folder))
        plan = []
        if args.overhead_hooks > 0:
            plan = plan_overhead(overhead_configs(wanted, before), args.juju)
        fixtures = [job[1] for job in jobs] + [f for _, f, _, source in plan if source is None]
        charmbuild.prebuild(fixtures, jobs=2)
        if before is not None:
            same = charmbuild.build_charm(BEFORE_FIXTURE, layer_source=before[1]) == (
                charmbuild.build_charm(BEFORE_FIXTURE)
            )
            print("note: %s" % _before_text(args.before.sha, before[0], same), file=sys.stderr)
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(measure_roll, *job) for job in jobs]
            rolls = [f.result() for f in futures]
        overhead = _overhead(plan, args.overhead_hooks, args.seed) if plan else []
    for row in overhead:
        if before is not None and row["config"] == before[0]:
            row.update(layer_revision=args.before.sha, same_build_as_layer=same)
    elapsed = time.perf_counter() - started
    print(render(rolls, overhead, args, elapsed, notes=notes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "args": {
                        "units": args.units,
                        "juju": args.juju,
                        "seed": args.seed,
                        "configs": args.configs,
                        **({"before": args.before.rev} if args.before else {}),
                    },
                    "elapsed": elapsed,
                    "date": time.strftime("%Y-%m-%d"),
                    "rolls": rolls,
                    "overhead": overhead,
                    "notes": notes,
                },
                f,
                indent=1,
                sort_keys=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
