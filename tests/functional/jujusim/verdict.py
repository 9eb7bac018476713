"""What a charm built with layer:coordinator did in a simulation, without any probe in it.

`make simulate` runs a charm author's own charm, which never calls the
simulator's ``sim-journal`` probe. This module reads what every such charm
does anyway:

* **Its flags.** charms.reactive installs its ``LogTracer`` at the start of
  every hook (``charms/reactive/trace.py``: ``hookenv.atstart(install_tracer,
  LogTracer())``), before the layer's own start callback sets the
  ``coordinator.*`` flags, and the tracer sends each flag it sees set, and
  every flag set when the handlers are dispatched, to ``juju-log`` at DEBUG
  (``tracer: set flag NAME``). Juju's agent filters DEBUG lines from the
  model's log, but the hook still calls ``juju-log``, and the simulator
  records every call.
* **Its hooks** (``Simulation.trace``): when each began, committed or failed.
* **The layer's own log** (INFO by default): ``X requests 'L'``, ``leader
  grants 'L' to X``, ``X releases 'L'``, for the timeline only.

A unit is **in guarded work on lock L** in every hook in which
``coordinator.granted.L`` was set, from the moment the trace shows it set
to the end of the hook, and from one hook to the next while its hooks in a
row have the flag (a lock acquired with ``hold=True``). The layer sets the
flag as the hook starts, when the unit holds L, and guarded handlers run
only after that. (Not from the hook's beginning: a hook starts up and reads
its data first, so a grant another unit's hook commits meanwhile is seen.)
A unit **asked for L** in every hook whose trace shows
``coordinator.requested.L`` set (the flag stays set while it waits, and the
layer clears it when the grant arrives): its last request must be
followed by a hook with the grant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Tuple

from .invariants import INFINITY

GRANTED = "coordinator.granted."
REQUESTED = "coordinator.requested."
_TRACED = re.compile(r"^tracer: set flag (coordinator\.(?:granted|requested)\.\S+)$")
_REQUEST = re.compile(r"^coordinator: (\S+) requests '(.*)'")
_GRANT = re.compile(r"^coordinator: leader grants '(.*)' to (\S+)$")
_RELEASE = re.compile(r"^coordinator: (\S+) releases '(.*)'$")


@dataclass(frozen=True)
class GuardedHook:
    """Guarded work on `lock`: from the flag being set to the end of the hook, or of the
    last of the unit's hooks in a row with the flag (a held lock)."""

    unit: str
    lock: str
    hook: str
    start: float
    end: float  # INFINITY while it runs
    committed: bool


@dataclass
class Observed:
    """What `observe` found: per-hook flags, guarded hooks and requests."""

    guarded: List[GuardedHook]
    # (unit, lock) -> the last moment a hook's trace showed the lock requested:
    # a grant must follow it (the flag stays set while the unit waits).
    asked: Dict[Tuple[str, str], float]
    traced_hooks: int  # hooks that logged any charms.reactive flag trace


def _flags_by_hook(sim, since: float) -> Dict[str, Dict[str, float]]:
    """{hook context: {coordinator flag: when its juju-log line first traced it set}}."""
    found: Dict[str, Dict[str, float]] = {}
    for call in sim.tool_calls:
        if call.time < since or not call.argv or call.argv[0] != "juju-log":
            continue
        names = found.setdefault(call.context_id, {})
        for arg in call.argv[1:]:
            for line in str(arg).splitlines():
                m = _TRACED.match(line.strip())
                if m and m.group(1) not in names:
                    names[m.group(1)] = call.time
    return found


def observe(sim, since: float = 0.0) -> Observed:
    """Read guarded work and requests from hooks that began at or after `since`.

    Guarded work starts when a hook's trace shows the granted flag set (a
    hook starts up and reads its data first: a grant committed while it
    started is seen) and ends with the hook, or with the last of the unit's
    hooks that follow one another with the flag set: a lock acquired with
    ``hold=True`` is held across hooks, between them too.
    """
    flags = _flags_by_hook(sim, since)
    ends = {rec.context_id: rec for rec in sim.trace if rec.event != "begin"}
    hooks_of: Dict[str, list] = {}
    for rec in sim.trace:
        if rec.event == "begin" and rec.time >= since:
            hooks_of.setdefault(rec.unit, []).append(rec)
    guarded: List[GuardedHook] = []
    asked: Dict[Tuple[str, str], float] = {}
    traced = 0
    for unit, begins in hooks_of.items():
        open_: Dict[str, GuardedHook] = {}  # lock -> the span its previous hook is part of
        for begin in begins:
            names = flags.get(begin.context_id, {})
            traced += bool(names)
            end = ends.get(begin.context_id)
            stop = end.time if end else INFINITY
            committed = bool(end and end.event == "commit")
            held = {}
            for name, when in sorted(names.items()):
                if name.startswith(GRANTED):
                    lock = name[len(GRANTED) :]
                    span = open_.get(lock)
                    if span is None:
                        span = GuardedHook(unit, lock, begin.hook, when, stop, committed)
                    else:
                        span = GuardedHook(unit, lock, span.hook, span.start, stop, committed)
                    held[lock] = span
                else:
                    key = (unit, name[len(REQUESTED) :])
                    asked[key] = max(asked.get(key, 0.0), when)
            guarded.extend(span for lock, span in open_.items() if lock not in held)
            open_ = held
        guarded.extend(open_.values())
    guarded.sort(key=lambda g: (g.start, g.unit, g.lock))
    return Observed(guarded, asked, traced)


def peak(guarded: List[GuardedHook], per_lock: bool) -> Tuple[int, float, List[str]]:
    """The most units in guarded work at once, per lock or on any lock: (count, when, who).

    A unit counts once however many locks it holds; an end and a start at
    the same moment do not overlap.
    """
    groups: Dict[str, List[GuardedHook]] = {}
    for g in guarded:
        groups.setdefault(g.lock if per_lock else "*", []).append(g)
    best: Tuple[int, float, List[str]] = (0, 0.0, [])
    for lock, hooks in sorted(groups.items()):
        events = sorted(
            [(g.start, 1, g.unit) for g in hooks] + [(g.end, 0, g.unit) for g in hooks]
        )
        inside: Dict[str, int] = {}
        for when, is_start, unit in events:
            if is_start:
                inside[unit] = inside.get(unit, 0) + 1
            elif inside[unit] == 1:
                del inside[unit]
            else:
                inside[unit] -= 1
            if len(inside) > best[0]:
                where = "" if lock == "*" else " on %r" % lock
                best = (len(inside), when, [u + where for u in sorted(inside)])
    return best


def timeline_events(sim, observed: Observed, since: float) -> List[Tuple[float, str, str]]:
    """[(time, unit, label)]: req, GRANT and rel from the layer's log, work and done from hooks."""
    found = layer_log_events(sim, since)
    for g in observed.guarded:
        if g.end < since:
            continue
        found.append((max(g.start, since), g.unit, "work"))
        if g.end != INFINITY:
            found.append((g.end, g.unit, "done" if g.committed else "FAIL"))
    return sort_events(found)


_ORDER = {"req": 0, "GRANT": 1, "work": 2, "done": 3, "FAIL": 3, "rel": 4}
LANE = 12


def layer_log_events(sim, since: float) -> List[Tuple[float, str, str]]:
    """[(time, unit, label)]: req, GRANT and rel, from the layer's INFO log lines."""
    found = []
    for rec in sim.logs:
        if rec.time < since:
            continue
        m = _REQUEST.match(rec.message)
        if m:
            found.append((rec.time, m.group(1), "req"))
            continue
        m = _GRANT.match(rec.message)
        if m:
            found.append((rec.time, m.group(2), "GRANT"))
            continue
        m = _RELEASE.match(rec.message)
        if m:
            found.append((rec.time, m.group(1), "rel"))
    return found


def sort_events(found):
    """Events in time order; at one moment: req, GRANT, work, done, rel."""
    return sorted(found, key=lambda e: (e[0], _ORDER[e[2]]))


def render_timeline(sim, events, since: float) -> str:
    """One lane per unit (units ever in the model), times from `since`, `*` the leader's."""
    units = sorted(sim.state.units, key=lambda u: int(u.rsplit("/", 1)[1]))
    short = [u.rsplit("/", 1)[1] for u in units]
    lines = ["  time(s) " + "".join(f"unit {s}".ljust(LANE) for s in short)]
    for when, unit, label in events:
        cells = [label if u == unit else "" for u in units]
        lane = "".join(c.ljust(LANE) for c in cells).rstrip()
        mark = "*" if unit == sim.leader else " "
        lines.append(f"{when - since:9.1f}{mark}{lane}")
    return "\n".join(lines)
