"""Restart up to two units at a time when the ``generation`` option changes.

Fixture charm of the layer:coordinator functional tests, using its own policy
``twoatonce.TwoAtOnce`` (``lib/twoatonce.py``). The "restart" is recorded with
the simulator's ``sim-journal`` probe, which lets the tests check that at most
two units restart at the same time.

Flags:

- ``two-at-once.started``: set in the ``start`` hook, never cleared.
- ``two-at-once.restart-needed``: set when ``generation`` changes after
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
    set_flag("two-at-once.started")
    hookenv.status_set("active", "Live")


@when("two-at-once.started", "config.changed.generation")
def generation_changed():
    set_flag("two-at-once.restart-needed")
    hookenv.status_set("maintenance", "Restart needed")


@when("two-at-once.restart-needed")
@when_not("coordinator.requested.restart", "coordinator.granted.restart")
def request_restart():
    # acquire() either sets coordinator.granted.restart at once (then restart()
    # runs later in this hook) or coordinator.requested.restart (then restart()
    # runs in the hook where the leader's grant arrives).
    if not charms.coordinator.acquire(LOCK):
        hookenv.status_set("maintenance", "Waiting for the restart lock")


@when("coordinator.granted.restart", "two-at-once.restart-needed")
def restart():
    hookenv.status_set("maintenance", "Restarting")
    journal("start", LOCK, "--duration", "30")
    journal("end", LOCK)
    clear_flag("two-at-once.restart-needed")
    hookenv.status_set("active", "Live")
