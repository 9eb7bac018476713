"""Invariant checks over a simulation's side channels and final state.

Each check raises `InvariantError` with a message naming the units, locks and
simulated times involved, and returns quietly (or returns a summary) when the
invariant holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional

from .model import HookLoopError, JournalEntry

INFINITY = float("inf")


class InvariantError(AssertionError):
    """An invariant of the coordinated system does not hold."""


@dataclass(frozen=True)
class Interval:
    unit: str
    lock: str
    start: float
    end: float  # INFINITY if the work never ended (e.g. the hook was killed)
    hook: str


def guarded_intervals(journal: Iterable[JournalEntry]) -> List[Interval]:
    """Pair each unit's ``sim-journal start LOCK`` with its next ``end LOCK``."""
    open_: Dict[tuple, JournalEntry] = {}
    result = []
    for entry in journal:
        key = (entry.unit, entry.lock)
        if entry.event == "start":
            if key in open_:
                raise InvariantError(
                    "%s started guarded work on %r at t=%.3f while its work "
                    "started at t=%.3f had not ended"
                    % (entry.unit, entry.lock, entry.time, open_[key].time)
                )
            open_[key] = entry
        else:
            begin = open_.pop(key, None)
            if begin is None:
                raise InvariantError(
                    "%s ended guarded work on %r at t=%.3f without starting it"
                    % (entry.unit, entry.lock, entry.time)
                )
            result.append(Interval(entry.unit, entry.lock, begin.time, entry.time, begin.hook))
    for (unit, lock), begin in open_.items():
        result.append(Interval(unit, lock, begin.time, INFINITY, begin.hook))
    return sorted(result, key=lambda i: (i.start, i.unit, i.lock))


def check_max_concurrency(
    journal: Iterable[JournalEntry], allowed: int, per_lock: bool = True
) -> int:
    """At most `allowed` units inside guarded work at once; returns the maximum seen.

    With ``per_lock=False`` work on any lock counts together. Intervals are
    half-open: work ending at t and work starting at t do not overlap.
    """
    intervals = guarded_intervals(journal)
    groups: Dict[str, List[Interval]] = {}
    for iv in intervals:
        groups.setdefault(iv.lock if per_lock else "*", []).append(iv)
    peak = 0
    for lock, ivs in sorted(groups.items()):
        events = []
        for iv in ivs:
            events.append((iv.start, 1, iv))
            events.append((iv.end, 0, iv))
        events.sort(key=lambda e: (e[0], e[1]))
        inside: List[Interval] = []
        for when, is_start, iv in events:
            if not is_start:
                inside.remove(iv)
                continue
            inside.append(iv)
            peak = max(peak, len(inside))
            if len(inside) > allowed:
                who = ", ".join(
                    "%s (%s since t=%.3f, in %s)" % (i.unit, i.lock, i.start, i.hook)
                    for i in inside
                )
                raise InvariantError(
                    "%d units inside guarded work on %s at t=%.3f, allowed %d: %s"
                    % (
                        len(inside),
                        "lock %r" % lock if per_lock else "any lock",
                        when,
                        allowed,
                        who,
                    )
                )
    return peak


def check_all_requesters_acted(
    journal: Iterable[JournalEntry],
    live_units: Iterable[str],
    asked: Optional[Callable[[str], bool]] = None,
    requesters: Optional[Iterable[str]] = None,
    lock: Optional[str] = None,
    since: float = 0.0,
):
    """Every live unit that asked has completed guarded work (start and end) since `since`.

    Who asked: `requesters` if given, else units for which `asked(unit)` is
    true, else every live unit.
    """
    live = list(live_units)
    if requesters is not None:
        wanted = [u for u in requesters if u in live]
    elif asked is not None:
        wanted = [u for u in live if asked(u)]
    else:
        wanted = live
    done = {
        iv.unit
        for iv in guarded_intervals(journal)
        if iv.end != INFINITY and iv.start >= since and (lock is None or iv.lock == lock)
    }
    missing = sorted(u for u in wanted if u not in done)
    if missing:
        raise InvariantError(
            "unit(s) %s asked for %s but never completed guarded work%s"
            % (
                ", ".join(missing),
                "lock %r" % lock if lock else "a lock",
                " since t=%.3f" % since if since else "",
            )
        )


def check_no_granted_flags_at_rest(
    flags_by_unit: Dict[str, Iterable[str]], prefix: str = "coordinator.granted."
):
    """No unit keeps a grant flag between hooks (flags read from .unit-state.db)."""
    offenders = {
        u: sorted(f for f in flags if f.startswith(prefix)) for u, flags in flags_by_unit.items()
    }
    offenders = {u: f for u, f in offenders.items() if f}
    if offenders:
        raise InvariantError(
            "grant flags left set at rest: %s"
            % "; ".join("%s: %s" % (u, ", ".join(f)) for u, f in sorted(offenders.items()))
        )


def check_quiesced(sim, max_hooks: int = 10000, allow_errors: bool = False) -> int:
    """Run the simulation until quiet; fail on a hook loop or (unless allowed) units in error."""
    try:
        n = sim.run_until_quiet(max_hooks=max_hooks, retries=not allow_errors)
    except HookLoopError as e:
        raise InvariantError(str(e)) from None
    if not allow_errors:
        stuck = ["%s (%s)" % (u, sim.in_error(u)) for u in sim.units if sim.in_error(u)]
        if stuck:
            raise InvariantError("units in error at rest: %s" % ", ".join(stuck))
    return n
