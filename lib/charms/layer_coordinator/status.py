# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The waiting status (layer option ``waiting_status``).

While this unit waits for a lock, its workload status says so, with its
place in the queue: "Waiting for lock 'restart': 2 of 4 in queue". It never
overwrites a status the charm set in the same hook, nor a blocked one, and
restores the status it replaced once nothing waits. What it showed and
what it replaced are kept in unitdata.
"""

from charmhelpers.core import hookenv, unitdata

from . import wire

__all__ = ["WaitingStatus"]

_STATUSES = ("maintenance", "blocked", "waiting", "active")


class WaitingStatus:
    """Created at hook start (reads the status then); :meth:`show` at hook end."""

    def __init__(self):
        self._at_start = tuple(hookenv.status_get())

    def show(self, unit, own, granted, queue):
        """Show or clear the waiting status for this unit's requests ``own``.

        ``granted(lock)`` says whether this unit holds ``lock``;
        ``queue(lock)`` lists the units waiting for it in grant order.
        """
        kv = unitdata.kv()
        shown = kv.get(wire.STATUS_KEY)
        waiting = sorted((ts, lock) for lock, ts in own.items() if not granted(lock))
        if not waiting and not shown:
            return
        current = tuple(hookenv.status_get())
        if current != self._at_start or current[0] == "blocked":
            kv.unset(wire.STATUS_KEY)  # the charm owns the status now
            return
        if waiting:
            lock = waiting[0][1]
            waiting_units = queue(lock)
            place = waiting_units.index(unit) + 1 if unit in waiting_units else 1
            extra = f" (+{len(waiting) - 1} more locks)" if len(waiting) > 1 else ""
            message = f"Waiting for lock {lock!r}: {place} of {len(waiting_units)} in queue{extra}"
            if current != ("waiting", message):
                hookenv.status_set("waiting", message)
            prior = shown["prior"] if shown else list(current)
            kv.set(wire.STATUS_KEY, {"prior": prior, "ours": ["waiting", message]})
        else:
            if list(current) == shown["ours"]:
                status, message = shown["prior"]
                if status not in _STATUSES:
                    status, message = "active", ""
                hookenv.status_set(status, message)
            kv.unset(wire.STATUS_KEY)
