"""Restart at once when the ``generation`` option changes: no coordination.

Fixture charm of the layer:coordinator functional tests: the rolling-restart
fixture without layer:coordinator, as a baseline for the layer's cost per
hook. The restart is recorded with the simulator's ``sim-journal`` probe under
the same lock name as in rolling-restart, though no lock guards it.

Flags:

- ``no-coordinator.started``: set in the ``start`` hook, never cleared.
- ``no-coordinator.restart-needed``: set when ``generation`` changes after
  the start hook, cleared once the unit has restarted.
"""

import subprocess

from charmhelpers.core import hookenv
from charms.reactive import clear_flag, hook, set_flag, when

LOCK = "restart"


def journal(*args):
    """Record a step of the (unguarded) work with the simulator's probe."""
    subprocess.check_call(["sim-journal", *args])


@hook("start")
def started():
    set_flag("no-coordinator.started")
    hookenv.status_set("active", "Live")


@when("no-coordinator.started", "config.changed.generation")
def generation_changed():
    set_flag("no-coordinator.restart-needed")
    hookenv.status_set("maintenance", "Restart needed")


@when("no-coordinator.restart-needed")
def restart():
    hookenv.status_set("maintenance", "Restarting")
    journal("start", LOCK, "--duration", "30")
    journal("end", LOCK)
    clear_flag("no-coordinator.restart-needed")
    hookenv.status_set("active", "Live")
