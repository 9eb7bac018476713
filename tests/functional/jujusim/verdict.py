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
to the end of the hook: the layer sets it as the hook starts, when the unit
holds L, and guarded handlers run only after that. (Not from the hook's
beginning: a hook starts up and reads its data first, so a grant another
unit's hook commits meanwhile is seen.) A unit **asked for L** in every
hook whose trace shows ``coordinator.requested.L`` set (the flag stays set
while it waits, and the layer clears it when the grant arrives): its last
request must be followed by a hook with the grant.
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
    """A hook a unit ran with its grant of `lock`: from the flag being set to the hook's end."""

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

    Guarded work starts when the hook's trace shows the granted flag set (a
    hook starts up and reads its data first: a grant committed while it
    started is seen), and ends with the hook.
    """
    flags = _flags_by_hook(sim, since)
    begins = {}
    ends = {}
    for rec in sim.trace:
        if rec.event == "begin":
            begins[rec.context_id] = rec
        else:
            ends[rec.context_id] = rec
    guarded: List[GuardedHook] = []
    asked: Dict[Tuple[str, str], float] = {}
    traced = 0
    for ctx, names in flags.items():
        begin = begins.get(ctx)
        if begin is None or begin.time < since:
            continue
        traced += bool(names)
        end = ends.get(ctx)
        for name, when in sorted(names.items()):
            if name.startswith(GRANTED):
                guarded.append(
                    GuardedHook(
                        begin.unit,
                        name[len(GRANTED) :],
                        begin.hook,
                        when,
                        end.time if end else INFINITY,
                        bool(end and end.event == "commit"),
                    )
                )
            else:
                key = (begin.unit, name[len(REQUESTED) :])
                asked[key] = max(asked.get(key, 0.0), when)
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
        found.append((g.start, g.unit, "work"))
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
