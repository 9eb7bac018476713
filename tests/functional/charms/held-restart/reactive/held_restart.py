"""Restart one unit at a time, each keeping the lock until it is healthy again.

Fixture charm of the layer:coordinator functional tests for held locks
(``acquire(lock, hold=True)`` and ``release(lock)``). The restart is recorded
with the simulator's ``sim-journal`` probe: it starts in the hook that is
granted the lock and ends only in a later hook, the first update-status hook
after the restart (the stand-in for "the service has rejoined its cluster").
The lock is held, and ``coordinator.granted.restart`` stays set, in between.

Flags:

- ``held-restart.started``: set in the ``start`` hook, never cleared.
- ``held-restart.restart-needed``: set when ``generation`` changes after the
  start hook; cleared when the restart begins.
- ``held-restart.rejoining``: set when the restart begins, while the unit
  holds the ``restart`` lock and waits to become healthy; cleared, with the
  lock released, in the next update-status hook.
"""

import subprocess

from charmhelpers.core import hookenv
from charms.reactive import clear_flag, hook, is_flag_set, set_flag, when, when_not

import charms.coordinator

LOCK = "restart"


def journal(*args):
    """Record a step of the guarded work with the simulator's probe."""
    subprocess.check_call(["sim-journal", *args])


@hook("start")
def started():
    set_flag("held-restart.started")
    hookenv.status_set("active", "Live")


@when("held-restart.started", "config.changed.generation")
def generation_changed():
    set_flag("held-restart.restart-needed")
    if not is_flag_set("held-restart.rejoining"):
        hookenv.status_set("maintenance", "Restart needed")


@when("held-restart.restart-needed")
@when_not("coordinator.requested.restart", "coordinator.granted.restart")
def request_restart():
    # Guarded: ask only when not already waiting or holding, so that a unit
    # that still holds the lock from its last restart does not ask again
    # until it has released it.
    if not charms.coordinator.acquire(LOCK, hold=True):
        hookenv.status_set("maintenance", "Waiting for the restart lock")


@when("coordinator.granted.restart", "held-restart.restart-needed")
@when_not("held-restart.rejoining")
def restart():
    journal("start", LOCK, "--duration", "30")
    clear_flag("held-restart.restart-needed")
    set_flag("held-restart.rejoining")
    hookenv.status_set("maintenance", "Restarted, waiting to rejoin")


@hook("update-status")
def check_health():
    # An @hook handler runs in the first dispatch phase, before any @when
    # handler: a restart made later in this same hook is checked only in the
    # next update-status hook, so the unit always holds the lock across hooks.
    if not is_flag_set("held-restart.rejoining"):
        return
    journal("end", LOCK)
    charms.coordinator.release(LOCK)
    clear_flag("held-restart.rejoining")
    hookenv.status_set("active", "Live")
