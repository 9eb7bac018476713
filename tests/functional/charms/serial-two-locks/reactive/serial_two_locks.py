"""Take two named locks, ``restart`` and ``backup``, under the Serial policy.

Fixture charm of the layer:coordinator functional tests. Each guarded piece of
work is recorded with the simulator's ``sim-journal`` probe under its lock's
name, which lets the tests check that each lock has at most one holder while
different units may hold different locks at the same time.

Flags:

- ``serial-two-locks.started``: set in the ``start`` hook, never cleared.
- ``serial-two-locks.restart-needed``: set when ``generation`` changes after
  the start hook, cleared once the unit has restarted.
- ``serial-two-locks.backup-needed``: set when ``generation`` or
  ``backup-generation`` changes after the start hook, cleared once the unit
  has backed up.
"""

import subprocess

from charmhelpers.core import hookenv
from charms.reactive import clear_flag, hook, is_flag_set, set_flag, when, when_not

import charms.coordinator


def journal(*args):
    """Record a step of the guarded work with the simulator's probe."""
    subprocess.check_call(["sim-journal", *args])


def guarded_work(lock):
    journal("start", lock, "--duration", "30")
    journal("end", lock)


def update_status():
    pending = [
        lock
        for lock in ("restart", "backup")
        if is_flag_set("serial-two-locks.{}-needed".format(lock))
    ]
    if pending:
        hookenv.status_set("maintenance", "Waiting for lock: " + ", ".join(pending))
    else:
        hookenv.status_set("active", "Live")


@hook("start")
def started():
    set_flag("serial-two-locks.started")
    update_status()


@when("serial-two-locks.started", "config.changed.generation")
def generation_changed():
    set_flag("serial-two-locks.restart-needed")
    set_flag("serial-two-locks.backup-needed")
    update_status()


@when("serial-two-locks.started", "config.changed.backup-generation")
def backup_generation_changed():
    set_flag("serial-two-locks.backup-needed")
    update_status()


@when("serial-two-locks.restart-needed")
@when_not("coordinator.requested.restart", "coordinator.granted.restart")
def request_restart():
    charms.coordinator.acquire("restart")


@when("serial-two-locks.backup-needed")
@when_not("coordinator.requested.backup", "coordinator.granted.backup")
def request_backup():
    charms.coordinator.acquire("backup")


@when("coordinator.granted.restart", "serial-two-locks.restart-needed")
def restart():
    hookenv.status_set("maintenance", "Restarting")
    guarded_work("restart")
    clear_flag("serial-two-locks.restart-needed")
    update_status()


@when("coordinator.granted.backup", "serial-two-locks.backup-needed")
def backup():
    hookenv.status_set("maintenance", "Backing up")
    guarded_work("backup")
    clear_flag("serial-two-locks.backup-needed")
    update_status()
