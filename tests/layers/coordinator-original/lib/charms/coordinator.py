# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Test-only stand-in for the original layer:coordinator's ``charms.coordinator``.

Stands in for the layer this repository replaces, so that the benchmark, the
differential tests and upgrade tests can run charms built on it. Written here
from the original layer's README (``acquire``, the ``coordinator.requested.*``
and ``coordinator.granted.*`` flags, the ``class`` and ``log_level`` options,
``SimpleCoordinator``, the ``coordinator`` attribute) and from the data format
and API of ``charmhelpers.coordinator.BaseCoordinator``, which the original
layer runs unmodified:

- requests: this unit's peer relation settings, key ``coordinator``, a JSON
  object ``{lock: request timestamp}`` (``%Y-%m-%d %H:%M:%S.%fZ``, UTC);
- grants: leader settings, key ``coordinator``, ``{unit: {lock: timestamp of
  the request granted}}``; only the leader writes them;
- a grant is released at the end of the hook it is granted in: the unit
  deletes its request and writes nothing else; the leader drops the grant in
  its next hook that sees the request gone, and only then grants the lock
  again.

The protocol is charmhelpers' own: the coordinator is built at import, so
``BaseCoordinator.__init__`` queues its ``initialize`` and ``handle`` as
charmhelpers start callbacks; every hook reads leader settings and every
peer's request, the leader grants, and at the end of every successful hook
the unit releases what it was granted and rewrites its request data (and the
leader its grants).

Flags, kept by ``reactive/coordinator.py`` at the start of every hook, after
the coordinator has loaded its state and (on the leader) granted:
``coordinator.granted.<lock>`` is set for each lock granted to this unit and
``coordinator.requested.<lock>`` for each it still waits for; both are
cleared for locks it no longer asks for. Nothing clears a granted flag at the
end of a hook: it stays in unitdata, stale, until the next hook starts and
finds the request released. So a handler sees it only in the hook of the
grant ("only set for the duration of the hook", as the original's README
puts it), while a look at unitdata between hooks finds it still set.

The default policy, :class:`SimpleCoordinator`, also behaves as the
original's code does where its README is silent (facts read in
stub42/layer-coordinator at fa27fc9, its last commit): a unit that holds a
lock is granted any other it asks for; otherwise the first unit waiting for
that lock is granted, when no unit holds any lock. And it grants at the end
of every hook too, after this unit's release and before the data is saved,
so that a leader hands on the lock it releases in the same hook; this costs
every hook one more ``is-leader`` call. The original also ships its own
``coordinator-relation-changed``, ``coordinator-relation-departed``,
``leader-elected`` and ``leader-settings-changed`` hook files, which run
charms.reactive without layer:basic's ``config.*`` flag callbacks; so does
this stand-in.

Where the original's code departs from its README, the flags here follow
the README: the original leaves ``coordinator.requested.<lock>`` set while
the lock is granted, and sets ``coordinator.granted.<lock>`` at hook start
whenever the leader's grant record names this unit, even for a request it
released that the leader has not yet seen go (so the flag can come back for
one more hook). Here the granted flag needs the grant of the current
request (``BaseCoordinator.granted``).

Simplified against the original: option values are not validated beyond
what ``charm build`` checks (a bad ``class`` fails the hook with Python's
import error); log messages are worded here.
"""

import importlib

from charmhelpers.coordinator import BaseCoordinator
from charmhelpers.core import hookenv
from charms.reactive import clear_flag, get_flags, set_flag

__all__ = [
    "SimpleCoordinator",
    "acquire",
    "coordinator",
    "coordinator_class",
    "log",
    "sync_flags",
]

#: charmhelpers' data key, in leader settings and in the peer relation.
KEY = "coordinator"
#: The peer relation declared in this layer's metadata.yaml.
RELATION_NAME = "coordinator"
DEFAULT_CLASS = "charms.coordinator.SimpleCoordinator"

REQUESTED_FLAG = "coordinator.requested.{}"
GRANTED_FLAG = "coordinator.granted.{}"

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _options():
    from charms.layer import options  # layer:options, brought by layer:basic

    return options.get("coordinator") or {}


def log(message, level=hookenv.INFO):
    """Log ``message`` with juju-log if ``level`` reaches the ``log_level`` option."""
    threshold = str(_options().get("log_level", "info")).upper()
    if _LEVELS.index(level) >= _LEVELS.index(threshold):
        hookenv.log(f"coordinator: {message}", level)


class SimpleCoordinator(BaseCoordinator):
    """One unit at a time holds locks, whatever their names.

    A unit that holds a lock is granted any other it asks for. When no unit
    holds one, the first unit waiting for the lock asked for is granted. The
    leader grants at the start and at the end of every hook, so it hands on
    a lock it released in the same hook.
    """

    def default_grant(self, lock, unit, granted, queue):
        holders = {u for u, locks in self.grants.items() if locks}
        if unit in holders:
            return True
        return not holders and queue[0] == unit

    def msg(self, msg, level=hookenv.DEBUG):
        log(msg, level)

    def _save_state(self):
        # Runs at the end of the hook, after _release_granted: grant what this
        # hook released before the grants are published.
        self.handle()
        super()._save_state()


def coordinator_class():
    """The ``BaseCoordinator`` subclass named by the ``class`` option.

    An absolute dotted path, or a bare name of a class in this module.
    """
    path = _options().get("class", DEFAULT_CLASS)
    module_name, _, attr = path.rpartition(".")
    cls = getattr(importlib.import_module(module_name or __name__), attr)
    if not (isinstance(cls, type) and issubclass(cls, BaseCoordinator)):
        raise TypeError(f"coordinator class {path} is not a BaseCoordinator subclass")
    return cls


def acquire(lock):
    """Request ``lock``; return True if it is granted now.

    Granted now: sets ``coordinator.granted.<lock>`` and clears
    ``coordinator.requested.<lock>``. Otherwise sets
    ``coordinator.requested.<lock>``; the grant comes in a later hook.
    """
    if coordinator.acquire(lock):
        log(f"granted {lock}", hookenv.DEBUG)
        clear_flag(REQUESTED_FLAG.format(lock))
        set_flag(GRANTED_FLAG.format(lock))
        return True
    log(f"requested {lock}", hookenv.DEBUG)
    set_flag(REQUESTED_FLAG.format(lock))
    return False


def sync_flags():
    """Set the flags from this hook's requests and grants (a start callback).

    For each lock this unit asked for: ``coordinator.granted.<lock>`` set and
    ``coordinator.requested.<lock>`` cleared when granted, the other way
    round while waiting. Both are cleared for any other lock, which clears a
    granted flag left from the hook its lock was released in.
    """
    log("setting the coordinator flags")
    own = coordinator.requests.get(hookenv.local_unit(), {})
    prefixes = (REQUESTED_FLAG.format(""), GRANTED_FLAG.format(""))
    for flag in get_flags():
        for prefix in prefixes:
            if flag.startswith(prefix) and flag[len(prefix) :] not in own:
                clear_flag(flag)
    for lock in own:
        if coordinator.granted(lock):
            clear_flag(REQUESTED_FLAG.format(lock))
            set_flag(GRANTED_FLAG.format(lock))
        else:
            clear_flag(GRANTED_FLAG.format(lock))
            set_flag(REQUESTED_FLAG.format(lock))


# Built at import, as the original layer does: BaseCoordinator.__init__ queues
# initialize and handle with hookenv.atstart, ahead of the flag callback that
# reactive/coordinator.py queues after importing this module.
coordinator = coordinator_class()(KEY, RELATION_NAME)
log(f"using the {type(coordinator).__name__} coordinator", hookenv.DEBUG)
