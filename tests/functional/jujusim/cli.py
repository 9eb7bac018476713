"""``python -m jujusim``: run a charm author's built charm, or a scripted scenario.

``simulate CHARM``: deploy the built charm on N simulated units of one Juju
version, let it settle, apply the triggers (and faults), run until no hook is
due, print the timeline and check, from the layer's own flags and log (no
probe in the charm, see `jujusim.verdict`):

* never more units in guarded work than the policy allows;
* every unit that asked for a lock got a hook with its grant after its last
  hook of waiting;
* no unit is left in error, and hooks stop (no loop);
* at rest no unit still has a ``coordinator.requested.*`` or
  ``coordinator.granted.*`` flag (a lock still held or still wanted).

Exit 0 when every check passes, 1 when one fails, 2 for bad arguments.
``--json FILE`` writes the report.

``run SCRIPT [ARG...]``: run a Python script with this package importable
(``from jujusim import Simulation``), for scenarios of one's own.

The policy's limit comes from the charm's ``coordinator`` layer options:
SimpleCoordinator (the default) allows ``concurrency`` units at once on any
lock (a count, a percentage of the units, or the config option named by
``concurrency_config``); Serial one unit per lock. For a class of the
charm's own, say what it allows with ``--allowed N`` (and ``--per-lock``).

Triggers (``--trigger``, repeated or separated by ``;``, in order, each
after the model settles; words split as a shell splits them, so
``config 'motd=hello world'`` sets one value with a space):
  ``config KEY=VALUE...``     juju config (values typed by config.yaml)
  ``action NAME [UNIT|leader|all] [KEY=VALUE...]``   juju run (default: all)
  ``upgrade PATH``            juju refresh to another build of the charm
Faults (``--fault KIND[@SECONDS]``, seconds after the first trigger; random in
the first minute without @): remove-leader, expire-lease (leadership moves),
add-unit, remove-unit, kill-unit (remove --force: it vanishes mid-hook),
fail-hook (a unit's next hook fails; Juju retries it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import runpy
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from . import Simulation, by_name
from .charmdir import load_charm
from .invariants import INFINITY
from .model import HookLoopError, SimulationError
from .verdict import observe, peak, render_timeline, timeline_events
from .wheelhouse import (
    WheelhouseError,
    hook_python,
    machine_ready,
    package_files,
    wheelhouse_key,
)

DEFAULT_JUJU = "4"
FAULTS = ("remove-leader", "expire-lease", "add-unit", "remove-unit", "kill-unit", "fail-hook")
SIMPLE = {
    "SimpleCoordinator",
    "charms.coordinator.SimpleCoordinator",
    "charms.layer_coordinator.shell.SimpleCoordinator",
}
SERIAL = {"Serial", "charms.coordinator.Serial", "charmhelpers.coordinator.Serial"}


class UsageError(ValueError):
    """Arguments `simulate` cannot act on: exit 2 with the message."""


# -- arguments --------------------------------------------------------------------------


def _typed(value: str, kind: str, name: str):
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "boolean":
            if value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError(value)
    except ValueError:
        raise UsageError("config %s is of type %s, not %r" % (name, kind, value)) from None
    return value


def _pairs(words: List[str], what: str) -> Dict[str, str]:
    out = {}
    for word in words:
        if "=" not in word:
            raise UsageError("%s: expected KEY=VALUE, got %r" % (what, word))
        key, value = word.split("=", 1)
        out[key] = value
    return out


def parse_trigger(text: str, charm) -> Tuple[str, tuple]:
    """``config k=v``, ``action NAME [target] [k=v]`` or ``upgrade PATH`` -> (kind, args)."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise UsageError("trigger %r: %s" % (text, e)) from None
    if not words:
        raise UsageError("empty --trigger")
    kind, rest = words[0], words[1:]
    if kind == "config":
        values = _pairs(rest, "config trigger")
        if not values:
            raise UsageError("config trigger: give KEY=VALUE, e.g. 'config version=2'")
        unknown = sorted(set(values) - set(charm.config_defaults))
        if unknown:
            raise UsageError(
                "config trigger: %s not in the charm's config.yaml (it has: %s)"
                % (", ".join(unknown), ", ".join(sorted(charm.config_defaults)) or "nothing")
            )
        return kind, (
            {k: _typed(v, charm.config_types.get(k, "string"), k) for k, v in values.items()},
        )
    if kind == "action":
        if not rest:
            raise UsageError("action trigger: name the action, e.g. 'action restart'")
        name, rest = rest[0], rest[1:]
        if name not in charm.action_defaults:
            raise UsageError(
                "action trigger: the charm has no action %r (it has: %s)"
                % (name, ", ".join(sorted(charm.action_defaults)) or "none")
            )
        target = "all"
        if rest and "=" not in rest[0]:
            target, rest = rest[0], rest[1:]
        return kind, (name, target, _pairs(rest, "action trigger"))
    if kind == "upgrade":
        if len(rest) != 1 or not (Path(rest[0]) / "metadata.yaml").is_file():
            raise UsageError("upgrade trigger: give the path of another build of the charm")
        return kind, (str(Path(rest[0]).resolve()),)
    raise UsageError("unknown trigger %r: use config, action or upgrade" % kind)


def parse_fault(text: str, rng: random.Random) -> Tuple[float, str]:
    kind, _, at = text.partition("@")
    if kind not in FAULTS:
        raise UsageError("unknown fault %r: use one of %s" % (kind, ", ".join(FAULTS)))
    if not at:
        return rng.uniform(0.0, 60.0), kind
    try:
        return float(at), kind
    except ValueError:
        raise UsageError("fault %s: @%s is not a number of seconds" % (kind, at)) from None


def policy_limit(charm_dir: str, allowed: Optional[int], per_lock: bool):
    """Return a function (sim) -> (allowed units, per lock?, how it was found)."""
    if allowed is not None:
        if allowed < 1:
            raise UsageError("--allowed must be at least 1")
        return lambda sim: (allowed, per_lock, "--allowed")
    try:
        with open(Path(charm_dir) / "layer.yaml") as f:
            options = ((yaml.safe_load(f) or {}).get("options") or {}).get("coordinator")
    except (OSError, yaml.YAMLError, AttributeError) as e:
        raise UsageError(
            "cannot read the layer options in %s/layer.yaml (%s): is it charm build's output?"
            % (charm_dir, e)
        ) from None
    if options is None:
        raise UsageError(
            "%s has no coordinator layer options: is it a charm built with layer:coordinator?"
            % charm_dir
        )
    cls = str(options.get("class", "charms.coordinator.SimpleCoordinator")).strip()
    if cls in SERIAL:
        return lambda sim: (1, True, "class %s: one unit per lock" % cls)
    if cls not in SIMPLE:
        raise UsageError(
            "the charm's policy class %s is its own: say how many units it lets work at "
            "once with --allowed N (make simulate ALLOWED=N), per lock with --per-lock" % cls
        )

    def simple(sim):
        value = options.get("concurrency", 1)
        source = "concurrency option"
        name = options.get("concurrency_config") or ""
        if name:  # the layer counts an empty or invalid value as 1, like the parse below
            value, source = sim.state.config.get(name), "config option %s" % name
        units = len(sim.units)
        text = "" if value is None else str(value).strip()
        try:
            if text.endswith("%"):
                count = max(1, int(text[:-1]) * units // 100)
            else:
                count = max(1, int(text))
        except ValueError:
            count = 1  # the layer counts an invalid value as 1
        return count, False, "%s %s = %s with %d units" % (cls, source, value, units)

    return simple


# -- running ----------------------------------------------------------------------------

# How long the model may take, after the last trigger settles, for units that
# still wait or hold a lock (held locks released in update-status hooks).
SETTLE_SECONDS = 1800.0
_COORDINATION_FLAGS = ("coordinator.requested.", "coordinator.granted.")


def _unsettled(sim) -> bool:
    return any(f.startswith(_COORDINATION_FLAGS) for u in sim.units for f in sim.flags(u))


def _apply_trigger(sim, kind, args, log):
    if kind == "config":
        sim.set_config(**args[0])
        log("config %s" % " ".join("%s=%s" % kv for kv in sorted(args[0].items())))
    elif kind == "action":
        name, target, params = args
        units = {"all": sim.units, "leader": [sim.leader]}.get(target, [target])
        ids = [sim.run_action(unit, name, params) for unit in units]
        log("action %s on %s" % (name, ", ".join(units)))
        return ids
    else:
        sim.upgrade_charm(args[0])
        log("refresh to %s" % args[0])
    return []


def _apply_fault(sim, kind, rng, log):
    others = [u for u in sim.units if u != sim.leader]
    if kind in ("remove-leader", "expire-lease") and sim.leader is None:
        log("fault: %s skipped, nobody leads at t=%.1fs" % (kind, sim.now))
    elif kind == "remove-leader":
        log("fault: remove-leader %s" % sim.remove_leader())
    elif kind == "expire-lease":
        log("fault: expire-lease, %s loses leadership" % sim.expire_lease())
    elif kind == "add-unit":
        log("fault: add-unit %s" % sim.add_unit())
    elif kind in ("remove-unit", "kill-unit"):
        if not others:
            log("fault: %s skipped, no unit but the leader" % kind)
            return
        unit = rng.choice(others)
        sim.remove_unit(unit, force=kind == "kill-unit")
        log("fault: %s %s" % (kind, unit))
    elif not sim.units:
        log("fault: %s skipped, no unit left" % kind)
    else:
        unit = rng.choice(sim.units)
        sim.fail_next_hook(unit, "first-tool-call")
        log("fault: fail-hook, the next hook of %s fails" % unit)


def simulate(args) -> int:
    charm_dir = str(Path(args.charm).resolve())
    if not (Path(charm_dir) / "metadata.yaml").is_file():
        raise UsageError("%s is not a built charm (no metadata.yaml)" % args.charm)
    charm = load_charm(charm_dir)
    try:
        profile = by_name(args.juju)
    except ValueError as e:
        raise UsageError(str(e)) from None
    triggers = [
        parse_trigger(t, charm) for text in args.trigger for t in text.split(";") if t.strip()
    ]
    if args.units < 1:
        raise UsageError("--units must be at least 1")
    rng = random.Random("simulate:%d" % args.seed)
    faults = sorted(parse_fault(f, rng) for f in args.fault)
    for kind, targs in triggers:
        if kind == "upgrade" and not args.python:
            ours, theirs = (wheelhouse_key(package_files(d)) for d in (charm_dir, targs[0]))
            if ours != theirs:
                raise UsageError(
                    "upgrade trigger: %s has another wheelhouse than %s; simulate runs one "
                    "hook interpreter: give --python with both installed" % (targs[0], charm_dir)
                )
    if faults and not triggers:
        raise UsageError("faults are timed from the first trigger: give a --trigger too")
    limit = policy_limit(charm_dir, args.allowed, args.per_lock)
    started = time.monotonic()
    python = os.path.abspath(args.python) if args.python else hook_python(charm_dir, quiet=False)
    notes: List[str] = []
    report = {
        "charm": charm_dir,
        "units": args.units,
        "seed": args.seed,
        "juju": args.juju,
        "triggers": args.trigger,
        "faults": [{"at": at, "kind": kind} for at, kind in faults],
    }
    machine = tempfile.mkdtemp(prefix="jujusim-simulate-")
    try:
        run_dir = machine_ready(charm_dir, machine, notes.append)
        triggers = [
            (kind, (machine_ready(targs[0], machine, notes.append),))
            if kind == "upgrade"
            else (kind, targs)
            for kind, targs in triggers
        ]
        return _simulate(
            args, run_dir, profile, triggers, faults, rng, limit, python, notes, report, started
        )
    finally:
        shutil.rmtree(machine, ignore_errors=True)


def _simulate(
    args, charm_dir, profile, triggers, faults, rng, limit, python, notes, report, started
) -> int:
    checks = []

    def check(name, ok, detail):
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    with Simulation(
        charm_dir,
        units=args.units,
        seed=args.seed,
        backend=args.backend,
        profile=profile,
        python=python,
        update_status=True,  # Juju runs it every 5 minutes; held locks may wait for it
    ) as sim:
        budget = 200 * (args.units + 2) ** 2 + 2000
        hooks_total = 0
        quiet = True
        since = 0.0
        action_ids: List[str] = []
        try:
            hooks_total += sim.run_until_quiet(max_hooks=budget)
            since = sim.now
            for n, (kind, targs) in enumerate(triggers):
                if n:
                    hooks_total += sim.run_until_quiet(max_hooks=budget)
                action_ids += _apply_trigger(sim, kind, targs, notes.append)
                if n == 0:
                    for at, fault in faults:
                        hooks_total += sim.run_until(since + at, max_hooks=budget)
                        _apply_fault(sim, fault, rng, notes.append)
            hooks_total += sim.run_until_quiet(max_hooks=budget)
            # A unit still waiting or holding may need update-status hooks to
            # go on (a lock held until the service is healthy): let time pass.
            deadline = sim.now + args.settle
            while sim.now < deadline and _unsettled(sim):
                hooks_total += sim.run_for(60.0, max_hooks=budget)
                hooks_total += sim.run_until_quiet(max_hooks=budget)
        except HookLoopError as e:
            quiet = False
            check("hooks stop", False, str(e))
        if quiet:
            check("hooks stop", True, "no hook due at t=%.1fs" % sim.now)
        # Checked from the deployment on (a charm may roll as it deploys);
        # the timeline starts at the first trigger.
        observed = observe(sim, 0.0)
        allowed, per_lock, how = limit(sim)
        most, when, who = peak(observed.guarded, per_lock)
        check(
            "never more units in guarded work than the policy allows",
            most <= allowed,
            "at most %d at once (%s), allowed %d (%s)"
            % (
                most,
                ", ".join(who) + (" at t=%.1fs" % (when - since)) if who else "none",
                allowed,
                how,
            ),
        )
        missing = []
        for (unit, lock), asked_at in sorted(observed.asked.items()):
            if unit not in sim.units:
                continue  # removed: it no longer waits for anything
            if not any(
                g.unit == unit and g.lock == lock and g.committed and g.start >= asked_at
                for g in observed.guarded
            ):
                missing.append("%s (%r, waiting at t=%.1fs)" % (unit, lock, asked_at - since))
        check(
            "every unit that asked got its turn",
            not missing,
            "never got a hook with its grant: " + ", ".join(missing)
            if missing
            else "%d request(s), each followed by guarded work" % len(observed.asked),
        )
        stuck = ["%s (%s)" % (u, sim.in_error(u)) for u in sim.units if sim.in_error(u)]
        check("no unit in error", not stuck, ", ".join(stuck) or "none")
        left = {
            u: sorted(f for f in sim.flags(u) if f.startswith(_COORDINATION_FLAGS))
            for u in sim.units
        }
        left = {u: f for u, f in left.items() if f}
        check(
            "nothing still requested or held at rest",
            not left,
            "; ".join("%s: %s" % (u, ", ".join(f)) for u, f in sorted(left.items())) or "none",
        )
        failed_actions = [
            "%s on %s: %s" % (sim.action(i).name, sim.action(i).unit, sim.action(i).status)
            for i in action_ids
            if sim.action(i).status != "completed"
        ]
        if action_ids:
            check(
                "the trigger's actions completed",
                not failed_actions,
                ", ".join(failed_actions) or "all",
            )
        if not observed.traced_hooks:
            notes.append(
                "no hook logged charms.reactive's flag trace ('tracer: set flag ...'): guarded "
                "work and requests cannot be seen; is the charm reactive?"
            )
            check("flags traced", False, "no charms.reactive flag trace in juju-log")

        per_unit = Counter(h.unit for h in sim.trace if h.event == "begin" and h.time >= since)
        print(
            "\n%d units on Juju %s (%s, JUJU_VERSION %s), seed %d, leader %s (*), "
            "triggers at t=%.1fs"
            % (args.units, args.juju, profile.name, sim.juju_version, args.seed, sim.leader, since)
        )
        for note in notes:
            print("  " + note)
        print()
        print(render_timeline(sim, timeline_events(sim, observed, since), since))
        print("\nhooks after the trigger: %d (%d in all)" % (sum(per_unit.values()), hooks_total))
        for unit in sorted(per_unit, key=lambda u: int(u.rsplit("/", 1)[1])):
            print("  %s: %d hooks" % (unit, per_unit[unit]))
        print("simulated time after the trigger: %.1fs" % (sim.now - since))
        print()
        for c in checks:
            print("%s  %s: %s" % ("PASS" if c["ok"] else "FAIL", c["check"], c["detail"]))
        ok = all(c["ok"] for c in checks)
        print("\n%s (%.1fs)" % ("OK" if ok else "FAILED", time.monotonic() - started))
        report.update(
            {
                "leader": sim.leader,
                "trigger_time": since,
                "notes": notes,
                "checks": checks,
                "ok": ok,
                "allowed": allowed,
                "per_lock": per_lock,
                "guarded": [
                    {
                        "unit": g.unit,
                        "lock": g.lock,
                        "hook": g.hook,
                        "start": g.start - since,
                        "end": None if g.end == INFINITY else g.end - since,
                        "committed": g.committed,
                    }
                    for g in observed.guarded
                ],
                "hooks": dict(per_unit),
            }
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0 if ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jujusim", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="run a built charm and check its coordination")
    sim.add_argument("charm", help="the built charm's directory (charm build's output)")
    sim.add_argument("--units", type=int, default=3)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--juju", default=DEFAULT_JUJU, help="2.9, 3.6 or 4 (default %(default)s)")
    sim.add_argument("--trigger", action="append", default=[], help="see the module help")
    sim.add_argument("--fault", action="append", default=[], help="KIND[@SECONDS]")
    sim.add_argument("--allowed", type=int, help="units the charm's own policy lets work at once")
    sim.add_argument("--per-lock", action="store_true", help="--allowed counts per lock")
    sim.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        help="simulated seconds a unit may still wait or hold after the last trigger "
        "(default %(default)s)",
    )
    sim.add_argument("--json", help="write the report to this file")
    sim.add_argument("--python", help="the hook interpreter (default: the charm's wheelhouse)")
    sim.add_argument("--backend", default="fork", choices=("fork", "exec"))
    run = sub.add_parser("run", help="run a scenario script with jujusim importable")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        sys.argv = [args.script] + args.args
        runpy.run_path(args.script, run_name="__main__")
        return 0
    try:
        return simulate(args)
    except (UsageError, SimulationError, WheelhouseError) as e:
        print("simulate: %s" % e, file=sys.stderr)
        return 2
