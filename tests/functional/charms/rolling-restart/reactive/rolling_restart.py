"""Restart one unit at a time when the ``generation`` option changes.

Fixture charm of the layer:coordinator functional tests. The "restart" is
recorded with the simulator's ``sim-journal`` probe, which lets the tests check
that no two units ever restart at the same time.

Flags:

- ``rolling-restart.started``: set in the ``start`` hook, never cleared.
- ``rolling-restart.restart-needed``: set when ``generation`` changes after
  the start hook, cleared once the unit has restarted.
"""

import subprocess

from charmhelpers.core import hookenv
from charms.reactive import clear_flag, hook, set_flag, when, when_not

import charms.coordinator

LOCK = "restart"


def journal(*args):
    """Record a step of the guarded work with the simulator's probe."""
    subprocess.check_call(["sim-journal", *args])


@hook("start")
def started():
    set_flag("rolling-restart.started")
    hookenv.status_set("active", "Live")


@when("rolling-restart.started", "config.changed.generation")
def generation_changed():
    set_flag("rolling-restart.restart-needed")
    hookenv.status_set("maintenance", "Restart needed")


@when("rolling-restart.restart-needed")
@when_not("coordinator.requested.restart", "coordinator.granted.restart")
def request_restart():
    # acquire() either sets coordinator.granted.restart at once (then restart()
    # runs later in this hook) or coordinator.requested.restart (then restart()
    # runs in the hook where the leader's grant arrives).
    if not charms.coordinator.acquire(LOCK):
        hookenv.status_set("maintenance", "Waiting for the restart lock")


@when("coordinator.granted.restart", "rolling-restart.restart-needed")
def restart():
    hookenv.status_set("maintenance", "Restarting")
    journal("start", LOCK, "--duration", "30")
    journal("end", LOCK)
    clear_flag("rolling-restart.restart-needed")
    hookenv.status_set("active", "Live")
