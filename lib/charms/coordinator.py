# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Coordinate guarded work, such as rolling restarts, across the units of an application.

A charm asks for a named lock with :func:`acquire`. The leader grants locks
according to a policy class (by default :class:`SimpleCoordinator`: one unit
at a time); each unit publishes its requests on the ``coordinator`` peer
relation. This module turns those decisions into charms.reactive flags:

``coordinator.requested.<lock>``
    Set while this unit waits for ``<lock>``: by :func:`acquire` when the lock
    cannot be granted at once, and at the start of every hook while the
    request is still waiting. Cleared when the lock is granted.

``coordinator.granted.<lock>``
    Set while this unit holds ``<lock>``: by :func:`acquire` when the lock is
    granted at once, and at the start of a hook in which the grant is held.
    Cleared at the end of that hook, when the lock is released, so it never
    survives into the next hook; except for a lock acquired with
    ``hold=True``, which keeps it until :func:`release` (or until the grant
    ends otherwise: an operator revokes it, or the holder leaves).

The policy class is the layer option ``coordinator.class`` (an absolute
dotted path, or a class name defined in this module). Whatever class is
configured, the layer runs it through :class:`LayerCoordinator`, which keeps
charmhelpers' wire format but reads and writes only what can have changed,
and lets the leader hand a lock it just released to the next waiting unit in
the same hook.

The implementation lives in the package ``charms.layer_coordinator``: the
decision core (``core``), the hook shell (``shell``), where the data lives
(``transport``), the wire format (``wire``), the options (``options``), the
waiting status (``status``) and the operator actions (``actions``).
"""

import importlib
from typing import TYPE_CHECKING

from charmhelpers.coordinator import BaseCoordinator, Serial
from charmhelpers.core import hookenv
from charms.reactive import clear_flag, get_flags, set_flag

from charms.layer_coordinator import quiet as _quiet

if TYPE_CHECKING:  # for readers and type checkers; at run time, see _LAZY
    from charms.layer_coordinator.actions import (
        ActionError,
        format_report,
        pause,
        resume,
        revoke,
        run_action,
        status_report,
    )
    from charms.layer_coordinator.options import DEFAULT_CLASS, DEFAULT_LOG_LEVEL, OptionError
    from charms.layer_coordinator.shell import LayerCoordinator, SimpleCoordinator

# The rest of the package is imported on first use (PEP 562 __getattr__
# below): a quiet hook (charms.layer_coordinator.quiet) imports none of it.
_LAZY = {
    "ActionError": "actions",
    "format_report": "actions",
    "pause": "actions",
    "resume": "actions",
    "revoke": "actions",
    "run_action": "actions",
    "status_report": "actions",
    "DEFAULT_CLASS": "options",
    "DEFAULT_LOG_LEVEL": "options",
    "OptionError": "options",
    "LayerCoordinator": "shell",
    "SimpleCoordinator": "shell",
    "KEY": "wire",
    "RELATION_NAME": "wire",
}

__all__ = [
    "ActionError",
    "DEFAULT_CLASS",
    "DEFAULT_LOG_LEVEL",
    "GRANTED_FLAG",
    "REQUESTED_FLAG",
    "BaseCoordinator",
    "LayerCoordinator",
    "OptionError",
    "Serial",
    "SimpleCoordinator",
    "acquire",
    "clear_granted_flags",
    "coordinator",  # noqa: F822 -- built on first access by __getattr__ below
    "coordinator_class",
    "format_report",
    "granted",
    "holders",
    "pause",
    "queue_position",
    "release",
    "requested",
    "resume",
    "revoke",
    "run_action",
    "status_report",
    "sync_flags",
]

REQUESTED_FLAG = "coordinator.requested.{}"
GRANTED_FLAG = "coordinator.granted.{}"
_REQUESTED_PREFIX = REQUESTED_FLAG.format("")
_GRANTED_PREFIX = GRANTED_FLAG.format("")

_CLASS_HINT = (
    "Set it to the absolute dotted path of a "
    "charmhelpers.coordinator.BaseCoordinator subclass, such as "
    "charmhelpers.coordinator.Serial, or to the name of a class defined "
    "in charms.coordinator, such as SimpleCoordinator."
)


def _import_class(value):
    """Import the class named by the ``class`` option, or raise OptionError."""
    from charms.layer_coordinator import options as _options

    def invalid(problem):
        return _options.option_error("class", value, problem, _CLASS_HINT)

    if not isinstance(value, str) or not value.strip():
        raise invalid("not a class path")
    module_name, _, attr = value.strip().rpartition(".")
    module_name = module_name or __name__
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name in (
            module_name,
            module_name.partition(".")[0],
        ):
            problem = f"module {module_name!r} cannot be found"
        else:
            problem = f"importing module {module_name!r} failed: {exc}"
        raise invalid(problem) from exc
    except Exception as exc:
        raise invalid(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    try:
        cls = getattr(module, attr)
    except AttributeError:
        raise invalid(f"module {module_name!r} has no attribute {attr!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseCoordinator)):
        raise invalid(f"{cls!r} is not a subclass of charmhelpers.coordinator.BaseCoordinator")
    return cls


_state = {}


def coordinator_class():
    """Return the coordinator class configured by the layer options.

    The class named by ``options.coordinator.class`` is returned as it is
    when it already derives from :class:`LayerCoordinator`; any other
    ``BaseCoordinator`` subclass (``charmhelpers.coordinator.Serial``, say) is
    combined with :class:`LayerCoordinator` in a subclass of the same name,
    so its policy methods (``default_grant``, ``grant_<lock>``,
    ``released``, ``msg``) apply unchanged. Raises :class:`OptionError`, after
    logging it at ERROR, when an option is invalid.
    """
    if "class" in _state:
        return _state["class"]
    from charms.layer_coordinator import options as _options
    from charms.layer_coordinator.shell import LayerCoordinator

    value = _options.load().class_path
    cls = _import_class(value)
    if cls is BaseCoordinator:
        # Its policy is LayerCoordinator's (one unit at a time, first come
        # first served); the two cannot be combined in one class.
        cls = LayerCoordinator
    elif not issubclass(cls, LayerCoordinator):
        try:
            cls = type(
                cls.__name__,
                (cls, LayerCoordinator),
                {"__module__": cls.__module__, "__doc__": cls.__doc__},
            )
        except TypeError as exc:
            raise _options.option_error(
                "class",
                value,
                f"it cannot be combined with the layer's protocol ({exc})",
                "Derive the policy class from charms.coordinator.SimpleCoordinator "
                "or from a plain charmhelpers.coordinator.BaseCoordinator subclass.",
            ) from None
    _state["class"] = cls
    return cls


def __getattr__(name):
    # PEP 562: build the singleton on first access, not at import, so a
    # charm's own policy module can import charms.coordinator to subclass
    # SimpleCoordinator without a circular import.
    if name == "coordinator":
        if "coordinator" not in _state:
            from charms.layer_coordinator.wire import KEY, RELATION_NAME

            _state["coordinator"] = coordinator_class()(KEY, RELATION_NAME)
        return _state["coordinator"]
    if name in _LAZY:
        module = importlib.import_module(f"charms.layer_coordinator.{_LAZY[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _started():
    c = __getattr__("coordinator")
    c.start()
    return c


def _check_lock(lock):
    if not isinstance(lock, str):
        raise ValueError(f"lock name must be a string, not {lock!r}")
    if not lock:
        raise ValueError("lock name must not be empty")


def acquire(lock, hold=False):
    """Request ``lock`` for this unit; return True if it is granted now.

    When granted, sets ``coordinator.granted.<lock>`` and clears
    ``coordinator.requested.<lock>``, so ``@when('coordinator.granted.<lock>')``
    handlers run in this same hook; the lock is released at the end of it.
    Otherwise sets ``coordinator.requested.<lock>`` and returns False; the
    grant arrives in a later hook. Calling it again keeps the original place
    in the queue. Raises ValueError for an empty or non-string lock name.

    With ``hold=True`` the grant is kept across hooks, and
    ``coordinator.granted.<lock>`` stays set, until :func:`release` (for
    example once the restarted service has rejoined its cluster).
    """
    _check_lock(lock)
    if _started().acquire(lock, hold=hold):
        clear_flag(REQUESTED_FLAG.format(lock))
        set_flag(GRANTED_FLAG.format(lock))
        return True
    set_flag(REQUESTED_FLAG.format(lock))
    return False


def release(lock):
    """Release ``lock`` now, or withdraw this unit's request for it.

    Clears ``coordinator.granted.<lock>`` and ``coordinator.requested.<lock>``.
    Needed for locks acquired with ``hold=True``; other grants are released
    at the end of the hook anyway. On the leader, the lock goes to the next
    waiting unit at once. Returns True if there was something to release.
    """
    _check_lock(lock)
    released = _started().release(lock)
    clear_flag(GRANTED_FLAG.format(lock))
    clear_flag(REQUESTED_FLAG.format(lock))
    return released


def granted(lock):
    """Return True if this unit holds ``lock`` in this hook."""
    _check_lock(lock)
    return _started().granted(lock)


def requested(lock):
    """Return True if this unit has asked for ``lock`` and not yet released it."""
    _check_lock(lock)
    return _started().requested(lock)


def sync_flags():
    """Make the ``coordinator.*`` flags match this unit's requests and grants.

    Runs at the start of every hook (registered by the layer's reactive
    module). For each lock this unit holds: sets ``coordinator.granted.<lock>``
    and clears ``coordinator.requested.<lock>``. For each lock it waits for:
    sets ``coordinator.requested.<lock>``. Clears both flags for every other
    lock.

    In a quiet hook (``charms.layer_coordinator.quiet``: a non-leader with
    nothing requested or held, in a hook that can bring it no news) it reads
    nothing, and only clears flags left set by hand; the coordinator then
    starts when charm code first uses it.
    """
    c = _state.get("coordinator")
    if (c is None or not c.started) and _quiet.quiet(_quiet.RELATION_NAME):
        for flag in get_flags():
            if flag.startswith((_REQUESTED_PREFIX, _GRANTED_PREFIX)):
                clear_flag(flag)
        return
    c = _started()
    own = c.requests[hookenv.local_unit()]
    for flag in get_flags():
        for prefix in (_REQUESTED_PREFIX, _GRANTED_PREFIX):
            if flag.startswith(prefix) and flag[len(prefix) :] not in own:
                clear_flag(flag)
    for lock in own:
        if c.granted(lock):
            clear_flag(REQUESTED_FLAG.format(lock))
            set_flag(GRANTED_FLAG.format(lock))
        else:
            clear_flag(GRANTED_FLAG.format(lock))
            set_flag(REQUESTED_FLAG.format(lock))


def clear_granted_flags():
    """Clear the ``coordinator.granted.*`` flags at the end of a hook.

    A grant lasts one hook, so every granted flag is cleared, except those of
    locks this unit still holds with ``hold=True``.
    """
    c = _state.get("coordinator")
    if c is not None and not c.started:
        c = None  # not used in this (quiet) hook: it holds nothing
    for flag in get_flags():
        if flag.startswith(_GRANTED_PREFIX):
            lock = flag[len(_GRANTED_PREFIX) :]
            if c is None or not (c.held(lock) and c.granted(lock)):
                clear_flag(flag)


def queue_position(lock):
    """Return this unit's 1-based place among the units waiting for ``lock``, or None.

    None when this unit holds the lock or has not asked for it. On a
    non-leader this reads every peer's requests (one relation-get each).
    """
    _check_lock(lock)
    c = _started()
    waiting = c.queue(lock)
    return waiting.index(c.unit) + 1 if c.unit in waiting else None


def holders(lock):
    """Return the units currently granted ``lock``, sorted."""
    _check_lock(lock)
    return _started().holders(lock)
