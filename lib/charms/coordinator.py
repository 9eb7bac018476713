# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Coordinate guarded work, such as rolling restarts, across the units of an application.

A charm asks for a named lock with :func:`acquire`. The leader grants locks
according to a policy class (by default :class:`SimpleCoordinator`: one unit
at a time) and publishes the grants in leader settings; each unit publishes
its requests on the ``coordinator`` peer relation. This module turns those
decisions into charms.reactive flags:

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
charmhelpers' wire format (leader setting and peer relation key
``coordinator``) but reads and writes only what can have changed, and lets
the leader hand a lock it just released to the next waiting unit in the
same hook.
"""

import importlib
import json
import os
import re
from collections.abc import MutableMapping
from datetime import datetime, timedelta, timezone

from charmhelpers.coordinator import BaseCoordinator, Serial
from charmhelpers.core import hookenv, unitdata
from charms.reactive import clear_flag, get_flags, set_flag

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

#: Relation name and data key (peer relation and leader settings).
RELATION_NAME = "coordinator"
KEY = "coordinator"

REQUESTED_FLAG = "coordinator.requested.{}"
GRANTED_FLAG = "coordinator.granted.{}"
_REQUESTED_PREFIX = REQUESTED_FLAG.format("")
_GRANTED_PREFIX = GRANTED_FLAG.format("")

DEFAULT_CLASS = "charms.coordinator.SimpleCoordinator"
DEFAULT_LOG_LEVEL = "info"

#: Juju log levels in increasing severity.
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_PREFIX = "coordinator: "

#: charmhelpers' timestamp format; kept so that units running an older
#: charm revision (during upgrade-charm) read and write the same data.
_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%fZ"

#: unitdata key of the leader's cached view of its peers' requests.
_VIEW_KEY = "coordinator.leader-view"

#: Leader settings besides KEY (the grants, in charmhelpers' format).
_PAUSED_KEY = "coordinator-paused"  # when granting was paused; absent while granting
_REVOKED_KEY = "coordinator-revoked"  # {unit: {lock: request timestamp}} revoked by an operator
_SINCE_KEY = "coordinator-granted-at"  # {unit: {lock: time of the grant}}
_LEADER_KEY = "coordinator-leader"  # the leader's unit name, for messages on other units

#: unitdata key of the waiting status this layer shows: {"prior": [...], "ours": [...]}.
_STATUS_KEY = "coordinator.status"

#: unitdata key of requests kept while the relation cannot hold them.
_LOCAL_KEY = "coordinator.local-requests"

#: unitdata key of the locks this unit acquired with hold=True.
_HELD_KEY = "coordinator.held"

#: unitdata key of the peers whose relation-departed hook this unit has run.
_DEPARTED_KEY = "coordinator.departed"
_DEPARTED_KEPT = 1000  # the most recent departures remembered

#: unitdata key of this unit's latest request timestamp (requests only move forward).
_LAST_REQUEST_KEY = "coordinator.last-request"

#: Returned by LayerCoordinator._read_unit when a peer's data cannot be read.
_UNREADABLE = object()


class OptionError(ValueError):
    """A ``coordinator`` layer option in ``layer.yaml`` is invalid."""


# --------------------------------------------------------------------------
# Options and logging


_options_cache = {}


def _layer_options():
    """Return the ``coordinator`` section of the built charm's layer options."""
    if "section" not in _options_cache:
        from charms.layer import options  # layer:options, brought by layer:basic

        section = options.get("coordinator") or {}
        if not isinstance(section, dict):
            raise OptionError(f"layer.yaml options.coordinator must be a mapping, got {section!r}")
        _options_cache["section"] = section
    return _options_cache["section"]


def _option_error(option, value, problem, hint):
    """Log an invalid option at ERROR and return the exception to raise."""
    text = f"layer.yaml option coordinator.{option} = {value!r} is invalid: {problem}. {hint}"
    hookenv.log(_LOG_PREFIX + text, level=hookenv.ERROR)
    return OptionError(text)


def _log_threshold():
    """Return the index in ``_LEVELS`` below which layer messages are dropped."""
    if "threshold" not in _options_cache:
        value = _layer_options().get("log_level", DEFAULT_LOG_LEVEL)
        name = value.upper() if isinstance(value, str) else None
        if name not in _LEVELS:
            raise _option_error(
                "log_level",
                value,
                "not a log level",
                "Use one of debug, info, warning, error, critical (any case).",
            )
        _options_cache["threshold"] = _LEVELS.index(name)
    return _options_cache["threshold"]


def _log(message, level="INFO"):
    """Send a layer message to juju-log if ``level`` passes ``log_level``."""
    if _LEVELS.index(level) >= _log_threshold():
        hookenv.log(_LOG_PREFIX + message, level=level)


def _resolve_class(value):
    """Import the class named by the ``class`` option, or raise OptionError."""
    hint = (
        "Set it to the absolute dotted path of a "
        "charmhelpers.coordinator.BaseCoordinator subclass, such as "
        "charmhelpers.coordinator.Serial, or to the name of a class defined "
        "in charms.coordinator, such as SimpleCoordinator."
    )
    if not isinstance(value, str) or not value.strip():
        raise _option_error("class", value, "not a class path", hint)
    path = value.strip()
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        module_name = __name__
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
        raise _option_error("class", value, problem, hint) from exc
    except Exception as exc:
        problem = f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        raise _option_error("class", value, problem, hint) from exc
    try:
        cls = getattr(module, attr)
    except AttributeError:
        problem = f"module {module_name!r} has no attribute {attr!r}"
        raise _option_error("class", value, problem, hint) from None
    if not (isinstance(cls, type) and issubclass(cls, BaseCoordinator)):
        problem = f"{cls!r} is not a subclass of charmhelpers.coordinator.BaseCoordinator"
        raise _option_error("class", value, problem, hint)
    return cls


_class_cache = {}


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
    _log_threshold()  # validate log_level before anything logs
    _order_option()
    _refuse_protocol_option()
    _parse_concurrency(_layer_options().get("concurrency", 1), 1)
    config_name = _layer_options().get("concurrency_config") or ""
    if not isinstance(config_name, str):
        raise _option_error(
            "concurrency_config", config_name, "not a string", "Name a charm config option."
        )
    value = _layer_options().get("class", DEFAULT_CLASS)
    if value not in _class_cache:
        cls = _resolve_class(value)
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
                raise _option_error(
                    "class",
                    value,
                    f"it cannot be combined with the layer's protocol ({exc})",
                    "Derive the policy class from charms.coordinator.SimpleCoordinator "
                    "or from a plain charmhelpers.coordinator.BaseCoordinator subclass.",
                ) from None
        _class_cache[value] = cls
    return _class_cache[value]


def _refuse_protocol_option():
    """Raise OptionError if layer.yaml still sets the removed ``protocol`` option."""
    if "protocol" in _layer_options():
        # Earlier revisions of this layer could run charmhelpers' own
        # protocol instead, only to compare costs; that baseline moved to
        # the layer's tests.
        raise _option_error(
            "protocol",
            _layer_options()["protocol"],
            "the option was removed: the layer always runs its own protocol",
            "Delete it from layer.yaml; any charmhelpers.coordinator.BaseCoordinator "
            "subclass still works as the class option.",
        )


def _order_option():
    value = _layer_options().get("order", "fifo")
    if value not in ("fifo", "leader-last"):
        raise _option_error("order", value, "not an order", "Use fifo or leader-last.")
    return value


# A unit count or a percentage: ASCII digits only (str.isdigit() accepts "²").
_COUNT = re.compile(r"\s*([0-9]+)\s*(%?)\s*\Z")


def _parse_concurrency(value, units, source=None):
    """Return the number of units allowed at once for ``value``.

    ``value`` is a count (>= 1) or a percentage string like ``"25%"`` of
    ``units`` (rounded down, at least 1). An invalid layer option raises
    OptionError; an invalid value from ``source`` (a config option) counts
    as 1 with a WARNING.
    """
    count = None
    if isinstance(value, bool):
        count = None
    elif isinstance(value, int):
        count = value if value >= 1 else None
    elif isinstance(value, str):
        match = _COUNT.match(value)
        number = 0
        if match:
            try:
                number = int(match.group(1))
            except ValueError:  # more digits than int() converts (Python 3.11+)
                pass
        if number >= 1:
            count = max(1, units * number // 100) if match.group(2) else number
    if count is not None:
        return count
    if source is None:
        raise _option_error(
            "concurrency",
            value,
            "not a unit count or percentage",
            'Use an integer >= 1 or a percentage such as "25%".',
        )
    _log(
        f"{source} = {value!r} is not a unit count (>= 1) or percentage such as "
        f'"25%"; granting to 1 unit at a time',
        "WARNING",
    )
    return 1


# --------------------------------------------------------------------------
# Request data


def _utcnow():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _timestamp():
    return _utcnow().strftime(_TS_FORMAT)


def _parse_timestamp(value):
    return datetime.strptime(value, _TS_FORMAT)


def _valid_timestamp(value):
    if not isinstance(value, str):
        return False
    try:
        _parse_timestamp(value)
    except ValueError:
        return False
    return True


def _describe(raw, limit=60):
    text = repr(raw)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(raw)} characters)"
    return text


def _json(raw):
    """``json.loads`` that fails only with ValueError (deep nesting included)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _parse_locks(raw, source):
    """Parse a ``{lock: timestamp}`` JSON map, keeping only valid entries.

    ``source`` names where the data came from for the single warning that
    bad data earns. Returns a new dict; never raises on bad data.
    """
    if raw is None or raw == "":
        return {}
    try:
        data = _json(raw) if isinstance(raw, str) else raw
    except ValueError:
        _log(f"ignoring {source}: not JSON: {_describe(raw)}", "WARNING")
        return {}
    if not isinstance(data, dict):
        _log(f"ignoring {source}: not a JSON object: {_describe(raw)}", "WARNING")
        return {}
    locks = {
        lock: ts
        for lock, ts in data.items()
        if isinstance(lock, str) and lock and _valid_timestamp(ts)
    }
    if len(locks) != len(data):
        _log(
            f"ignoring {len(data) - len(locks)} of {len(data)} entries in {source}: "
            f"a lock name must be a non-empty string and a timestamp must look "
            f"like {_timestamp()!r}",
            "WARNING",
        )
    return locks


def _parse_grants(raw, key=KEY):
    """Parse a leader setting of the form ``{unit: {lock: timestamp}}``."""
    source = f"leader setting {key!r}"
    if not raw:
        return {}
    try:
        data = _json(raw)
    except ValueError:
        _log(f"ignoring {source}: not JSON: {_describe(raw)}", "WARNING")
        return {}
    if not isinstance(data, dict):
        _log(f"ignoring {source}: not a JSON object: {_describe(raw)}", "WARNING")
        return {}
    grants = {}
    for unit, locks in data.items():
        if isinstance(unit, str) and isinstance(locks, dict):
            parsed = _parse_locks(locks, f"{source} for {unit}")
            if parsed:
                grants[unit] = parsed
        else:
            _log(f"ignoring entry {unit!r} of {source}", "WARNING")
    return grants


def _garbled(raw, grants):
    """True if the leader setting ``raw`` holds more than the valid ``grants`` parsed from it.

    Entries without locks (``{unit: {}}``) count as valid: nothing is lost
    by dropping them, so they alone are no reason to rewrite the setting.
    """
    if not raw:
        return False
    try:
        data = _json(raw)
    except ValueError:
        return True
    if not isinstance(data, dict):
        return True
    return {unit: locks for unit, locks in data.items() if locks != {}} != grants


def _dump(data):
    return json.dumps(data, sort_keys=True)


def _without_empty(mapping):
    return {unit: dict(locks) for unit, locks in mapping.items() if locks}


class _Requests(MutableMapping):
    """All units' requests, ``{unit: {lock: timestamp}}``, loaded on demand.

    This unit's own requests are always present. Other units' requests are
    loaded by ``load_all`` the first time something asks about another unit
    (only charm code interrogating ``coordinator.requests`` does that on a
    non-leader; the leader starts with a complete view).
    """

    def __init__(self, local_unit, own, others=None, load_all=None):
        self._local = local_unit
        self._data = {local_unit: own}
        self._load_all = load_all
        if others is not None:
            self._data.update(others)
            self._load_all = None

    def _complete(self):
        if self._load_all is not None:
            load, self._load_all = self._load_all, None
            for unit, locks in load().items():
                self._data.setdefault(unit, locks)

    def __getitem__(self, unit):
        if unit != self._local:
            self._complete()
        return self._data[unit]

    def __setitem__(self, unit, locks):
        if unit != self._local:
            self._complete()
        self._data[unit] = locks

    def __delitem__(self, unit):
        if unit == self._local:
            raise KeyError("cannot remove the local unit's requests")
        self._complete()
        del self._data[unit]

    def __iter__(self):
        self._complete()
        return iter(list(self._data))

    def __len__(self):
        self._complete()
        return len(self._data)

    def __contains__(self, unit):
        if unit == self._local:
            return True
        self._complete()
        return unit in self._data

    def __repr__(self):
        return f"_Requests({dict(self.items())!r})"


# --------------------------------------------------------------------------
# The coordinator protocol


class LayerCoordinator(BaseCoordinator):
    """The layer's coordination protocol, on charmhelpers' data format.

    Policy subclasses customise ``default_grant(lock, unit, granted, queue)``,
    ``grant_<lock>(...)`` (same signature, for one lock name), ``released``
    and ``msg``, exactly as with ``charmhelpers.coordinator.BaseCoordinator``.
    The protocol itself differs from charmhelpers in what it costs and in one
    behaviour:

    * A non-leader reads only its own request and the leader setting; it
      never reads other units' relation data (unless charm code asks for
      ``requests``).
    * The leader keeps its view of every peer's requests in unitdata and
      re-reads a peer only when that peer's data can have changed (its own
      relation hooks), or everything after it becomes leader, after
      upgrade-charm, or when a peer it has not read appears.
    * Nothing is written when nothing changed.
    * Requests are granted in request order (timestamp, then unit name).
    * When the leader releases its own lock at the end of a hook, it grants
      the released lock to the next waiting unit in the same hook.

    Do not instantiate it directly in a charm: use
    ``charms.coordinator.coordinator``.
    """

    def __init__(self, relation_key=KEY, peer_relation_name=RELATION_NAME):
        # Unlike BaseCoordinator, register no atstart callbacks here: the
        # layer starts the coordinator itself (see start()), so the order of
        # loading, granting and flag updates does not depend on import order.
        self.key = relation_key
        self.relname = peer_relation_name
        self.relid = None
        self.grants = None
        self._requests = None
        self._started = False
        self._unreadable = set()  # peers whose data could not be read this hook
        self._strangers = {}  # granted non-members read this hook: {unit: settings or None}
        self._released = {}  # {unit: {lock: timestamp}}: grants each unit says it released
        self._held = set()  # locks acquired with hold=True, kept until release()
        self._new_locks = set()  # locks this unit first asked for in this hook
        # {lock: timestamp}: grants of this unit whose request its records
        # lack (see _load_orphans); a new request takes one over.
        self._orphans = {}
        self._cache = {}  # per-hook derived values
        self._leader_last = False
        self._status_at_start = None  # (status, message) when waiting_status is on
        self._dying = False  # this unit is leaving the relation (being removed)
        self._goal_units = False  # goal-state's unit names this hook (None: unavailable)

    # -- state ------------------------------------------------------------

    @property
    def requests(self):
        """``{unit: {lock: timestamp}}`` for every unit, loaded when first asked."""
        return self._requests

    @requests.setter
    def requests(self, value):
        self._requests = value

    def start(self):
        """Load state and, on the leader, grant what can be granted.

        Runs once per hook, at hook start (or on first use when the module is
        imported late). Registers the end-of-hook callback.
        """
        if self._started:
            return
        self._started = True
        self.initialize()
        self.handle()

    def initialize(self):
        """Load grants, this unit's requests and, on the leader, its peer view."""
        if self._requests is not None:
            return
        self._unit = hookenv.local_unit()
        self._leader = bool(hookenv.is_leader())
        # A unit being removed departs from each peer in turn and then stops:
        # the peers it no longer lists are leaving *it*, not the model.
        departing = os.environ.get("JUJU_DEPARTING_UNIT")
        self._dying = departing == self._unit or hookenv.hook_name() == "stop"
        if departing and not self._dying:
            self._record_departure(departing)
        relids = hookenv.relation_ids(self.relname)
        self.relid = sorted(relids)[0] if relids else None
        self._load_state()
        self._emit_state()
        if _layer_options().get("waiting_status"):
            self._status_at_start = tuple(hookenv.status_get())
        hookenv.atexit(self._end_of_hook)

    def _load_state(self):
        self._leader_last = _order_option() == "leader-last"
        held = unitdata.kv().get(_HELD_KEY) or []
        self._held = {lock for lock in held if isinstance(lock, str)}
        self._loaded_held = set(self._held)
        settings = hookenv.leader_get() or {}
        self._loaded_settings = settings
        self._loaded_grants = _parse_grants(settings.get(self.key), self.key)
        # Garbage in the setting is rewritten by the leader's next save, even
        # when the grants it holds are unchanged.
        self._grants_garbled = self._leader and _garbled(
            settings.get(self.key), self._loaded_grants
        )
        self.grants = _without_empty(self._loaded_grants)
        self.paused_since = settings.get(_PAUSED_KEY) or None
        self.revoked = _parse_grants(settings.get(_REVOKED_KEY), _REVOKED_KEY)
        self.granted_at = _parse_grants(settings.get(_SINCE_KEY), _SINCE_KEY)
        self.leader_unit = self._unit if self._leader else settings.get(_LEADER_KEY)
        own = self._load_own()
        for lock, ts in sorted(own.items()):
            if self.revoked.get(self._unit, {}).get(lock) == ts:
                del own[lock]
                self._held.discard(lock)
                _log(
                    f"an operator revoked {self._unit}'s {lock!r} "
                    "(coordinator-release); it asks again if it still needs the lock",
                    "WARNING",
                )
        self._orphans = self._load_orphans(own)
        if self._leader:
            others = self._load_leader_view()
            self._requests = _Requests(self._unit, own, others=others)
        else:
            self._loaded_view = None
            self._requests = _Requests(self._unit, own, load_all=self._read_all_peers)

    def _load_own(self):
        """Load this unit's requests; set how they are kept (relation or unitdata).

        Requests live in this unit's relation settings. Before the peer
        relation exists, or while Juju cannot serve this unit's own settings
        (in relation-created, before the unit has entered the relation's
        scope), they are kept in unitdata, which commits with the hook just as
        relation settings do; the first hook that can read the relation
        publishes them.
        """
        kv = unitdata.kv()
        pending = _parse_locks(kv.get(_LOCAL_KEY), "requests kept in unitdata")
        self._pending_local = bool(pending)
        self._own_on_relation = False
        self._loaded_marker = {}
        if self.relid is not None:
            try:
                data = hookenv.relation_get(None, self._unit, self.relid) or {}
            except Exception as exc:  # noqa: BLE001 -- the hook tool's error is the answer
                _log(
                    f"own relation settings not readable yet ({exc}); keeping requests locally",
                    "DEBUG",
                )
            else:
                self._own_on_relation = True
                published = _parse_locks(
                    data.get(self.key), f"this unit's {self.key!r} relation data"
                )
                self._loaded_marker = _parse_locks(
                    data.get(self._released_key), f"this unit's {self._released_key!r} data"
                )
                self._loaded_own = dict(published)
                if pending:
                    _log(
                        f"publishing requests made while the relation was unreadable: "
                        f"{sorted(pending)}",
                        "DEBUG",
                    )
                merged = dict(pending)
                merged.update(published)
                return merged
        else:
            _log("no peer relation yet; requests kept locally", "DEBUG")
        self._loaded_own = dict(pending)
        return pending

    def _load_orphans(self, own):
        """Grants of this unit for requests it has no record of: ``{lock: timestamp}``.

        A grant reaches the leader settings at once, while the request it
        answers reaches this unit's records only when its hook succeeds. The
        leader grants itself in the hook that asks, before its guarded work;
        if that hook then fails, Juju retries it with the request rolled back
        but the grant kept, and the work may already have begun. Such a grant
        stands until the end of the retried hook, and a new request for the
        lock takes it over, timestamp and all (`acquire`). One still unclaimed
        when that hook ends is let go. A grant this unit has said it released
        (``<key>-released``) or an operator revoked is no orphan. A request
        withdrawn in a hook that began before the grant arrived leaves one
        too: the leader keeps such a grant until the unit says it let go.
        """
        mine = self._loaded_grants.get(self._unit, {})
        revoked = self.revoked.get(self._unit, {})
        orphans = {
            lock: ts
            for lock, ts in mine.items()
            if lock not in own
            and self._loaded_marker.get(lock, "") < ts
            and revoked.get(lock) != ts
        }
        for lock in sorted(orphans):
            _log(
                f"{self._unit} holds {lock!r} for a request it has no record of (made in "
                "a failed hook, or withdrawn); asking again in this hook takes the grant over",
                "DEBUG",
            )
        return orphans

    @property
    def _released_key(self):
        """Relation key where a unit lists the grants it has released: ``{lock: timestamp}``."""
        return f"{self.key}-released"

    def _read_unit(self, unit):
        """Return a peer's relation settings (a dict), or _UNREADABLE on error."""
        try:
            return hookenv.relation_get(None, unit, self.relid) or {}
        except Exception as exc:  # noqa: BLE001 -- e.g. a unit leaving between list and get
            _log(f"cannot read {unit}'s requests, will retry next hook: {exc}", "WARNING")
            self._unreadable.add(unit)
            return _UNREADABLE

    def _read_peer(self, unit):
        """Return a peer's requests (recording its released grants), or _UNREADABLE."""
        data = self._read_unit(unit)
        if data is _UNREADABLE:
            return data
        locks, self._released[unit] = self._parse_peer(unit, data)
        return locks

    def _parse_peer(self, unit, data):
        """A peer's relation data as (its requests, the grants it says it released)."""
        return (
            _parse_locks(data.get(self.key), f"{unit}'s {self.key!r} relation data"),
            _parse_locks(
                data.get(self._released_key), f"{unit}'s {self._released_key!r} relation data"
            ),
        )

    def _read_all_peers(self):
        if self.relid is None:
            return {}
        units = {unit: self._read_peer(unit) for unit in sorted(hookenv.related_units(self.relid))}
        return {unit: locks for unit, locks in units.items() if locks is not _UNREADABLE}

    def _load_leader_view(self):
        """Return the leader's view of its peers' requests, refreshing what can have changed."""
        kv = unitdata.kv()
        view = kv.get(_VIEW_KEY)
        if self.relid is None:
            self._loaded_view = {}
            return {}
        members = set(hookenv.related_units(self.relid))
        hook = hookenv.hook_name()
        stale = (
            not isinstance(view, dict)
            or view.get("relid") != self.relid
            or not isinstance(view.get("units"), dict)
            or not isinstance(view.get("released"), dict)
            or hook in ("leader-elected", "upgrade-charm")
        )
        if stale:
            _log("leader reads every peer's requests", "DEBUG")
            units = {}
        else:
            units = {u: locks for u, locks in view["units"].items() if u in members}
            self._released = {u: r for u, r in view["released"].items() if u in members}
        to_read = members - set(units)
        remote = hookenv.remote_unit()
        if remote in members and hookenv.relation_id() == self.relid:
            to_read.add(remote)
        cached = {} if stale else view["units"]
        for unit in sorted(to_read):
            locks = self._read_peer(unit)
            if locks is _UNREADABLE:
                # Keep what we knew, if anything; it is re-read next hook.
                if unit in cached:
                    units[unit] = cached[unit]
            else:
                units[unit] = locks
        self._loaded_view = view if not stale else None
        return units

    def _emit_state(self):
        own = self._requests[self._unit]
        for lock in sorted(own):
            state = "holds" if self.granted(lock) else "waits for"
            _log(f"{self._unit} {state} {lock!r}", "DEBUG")

    # -- public queries -----------------------------------------------------

    def granted(self, lock):
        """Return True if this unit's request for ``lock`` has been granted."""
        ts = self._requests[self._unit].get(lock)
        return ts is not None and self.grants.get(self._unit, {}).get(lock) == ts

    def requested(self, lock):
        """Return True if this unit has an outstanding request for ``lock``."""
        return lock in self._requests[self._unit]

    def request_timestamp(self, lock):
        """Return the UTC time (naive datetime) of this unit's request for ``lock``, or None."""
        ts = self._requests[self._unit].get(lock)
        return _parse_timestamp(ts) if ts is not None else None

    def _order(self, unit, ts):
        """Sort key of a request: request time, then unit name.

        With ``order: leader-last`` the leader's own requests sort after
        everyone else's, so it is granted a lock only when nobody else waits.
        """
        last = self._leader_last and self._leader and unit == self._unit
        return (last, ts, unit)

    def _revoked(self, unit, lock, ts):
        return self.revoked.get(unit, {}).get(lock) == ts

    def queue(self, lock):
        """Return the units waiting for ``lock`` (not yet granted), in grant order."""
        waiting = [
            (self._order(unit, ts), unit)
            for unit, locks in self._requests.items()
            for name, ts in locks.items()
            if name == lock
            and self.grants.get(unit, {}).get(lock) != ts
            and not self._revoked(unit, lock, ts)
        ]
        return [unit for _, unit in sorted(waiting)]

    def holders(self, lock):
        """Return the units currently granted ``lock``, sorted."""
        return sorted(unit for unit, locks in self.grants.items() if lock in locks)

    # -- requesting ---------------------------------------------------------

    def acquire(self, lock, hold=False):
        """Request ``lock``; return True if this unit holds it now.

        A repeated request keeps its original timestamp, and so its place in
        the queue. The leader grants its own request at once when the policy
        allows. The grant lasts until the end of the hook, or with
        ``hold=True`` until ``release(lock)``.
        """
        own = self._requests[self._unit]
        if lock not in own:
            held = " (held until released)" if hold else ""
            if lock in self._orphans:
                own[lock] = self._orphans.pop(lock)
                _log(f"{self._unit} requests {lock!r} again and keeps its grant{held}")
            else:
                own[lock] = self._next_request_timestamp()
                self._new_locks.add(lock)
                _log(f"{self._unit} requests {lock!r}{held}")
        if hold:
            self._held.add(lock)
        if self.granted(lock):
            return True
        if self._leader:
            return self.grant(lock, self._unit)
        return False

    def _next_request_timestamp(self):
        """The time of a new request: now, but always later than this unit's previous request.

        A unit's requests must only move forward, even if its clock steps
        back: a leader takes a newer request as proof that an older grant
        was let go (see `_grant_stands`).
        """
        ts = _timestamp()
        kv = unitdata.kv()
        last = kv.get(_LAST_REQUEST_KEY)
        if _valid_timestamp(last) and ts <= last:
            ts = (_parse_timestamp(last) + timedelta(microseconds=1)).strftime(_TS_FORMAT)
        kv.set(_LAST_REQUEST_KEY, ts)
        return ts

    def _defer_own(self, unit, lock):
        """True if the leader should not grant itself ``lock`` yet (order: leader-last).

        A request the leader made in this very hook waits for a later hook
        when the leader has peers: the peers' requests of the same moment
        (a config change reaches every unit at once) reach the leader only in
        their own relation-changed hooks, and must be seen first.
        """
        return (
            self._leader_last
            and unit == self._unit
            and lock in self._new_locks
            and bool(self._requests_peers())
        )

    def _requests_peers(self):
        return [u for u in self._requests if u != self._unit]

    def release(self, lock):
        """Give up ``lock``: release it if held, or withdraw the request.

        Returns True if there was a request or grant to give up.
        """
        self._held.discard(lock)
        own = self._requests[self._unit]
        if lock not in own:
            if self._orphans.pop(lock, None) is None:
                return False
            _log(f"{self._unit} releases {lock!r} (granted for a request it had no record of)")
            self.handle()
            return True
        was_granted = self.granted(lock)
        del own[lock]
        _log(f"{self._unit} {'releases' if was_granted else 'withdraws its request for'} {lock!r}")
        if was_granted:
            self.handle()  # on the leader, the next unit may have it now
        return True

    def held(self, lock):
        """Return True if ``lock`` was acquired with ``hold=True`` and not released."""
        return lock in self._held

    # -- policy parameters --------------------------------------------------

    def concurrency(self):
        """Return how many units may hold locks at once under the default policy.

        From the ``concurrency`` layer option (a count, or a percentage of
        the application's units such as ``"25%"``: rounded down, at least 1),
        or, when ``concurrency_config`` names a charm config option, from
        that option's current value (an invalid value counts as 1, with a
        WARNING).
        """
        if "concurrency" not in self._cache:
            config_name = _layer_options().get("concurrency_config") or ""
            if config_name:
                value = hookenv.config().get(config_name)
                source = f"config option {config_name!r}"
            else:
                value = _layer_options().get("concurrency", 1)
                source = None
            self._cache["concurrency"] = _parse_concurrency(value, len(self._requests), source)
        return self._cache["concurrency"]

    # -- granting (leader only) -------------------------------------------

    def handle(self):
        """On the leader, revoke released grants and grant waiting requests."""
        if not self._leader:
            return
        for unit in sorted(self.grants):
            if unit in self._unreadable:
                continue  # unknown is not released: keep its grant
            locks = self.grants[unit]
            for lock in sorted(locks):
                ts = locks[lock]
                if not self._still_held(unit, lock, ts) or self._revoked(unit, lock, ts):
                    del locks[lock]
                    self.granted_at.get(unit, {}).pop(lock, None)
                    self.released(unit, lock, _parse_timestamp(ts))
            if not locks:
                del self.grants[unit]
        # Forget revocations once the request they revoked is gone.
        self.revoked = _without_empty(
            {
                unit: {
                    lock: ts
                    for lock, ts in locks.items()
                    if self._requests.get(unit, {}).get(lock) == ts or unit in self._unreadable
                }
                for unit, locks in self.revoked.items()
            }
        )
        if self.paused_since:
            return
        pending = sorted(
            (self._order(unit, ts), lock, unit)
            for unit, locks in self._requests.items()
            for lock, ts in locks.items()
            if self.grants.get(unit, {}).get(lock) != ts and not self._revoked(unit, lock, ts)
        )
        for _, lock, unit in pending:
            self.grant(lock, unit)

    def _still_held(self, unit, lock, ts):
        """Whether the grant of ``lock`` (request ``ts``) to ``unit`` still stands.

        This unit's own grant stands while its request is ``ts``, or while it
        is an orphan not yet claimed in this hook (see `_load_orphans`). For a peer
        see `_grant_stands`. A peer this leader does not list as a member is
        leaving or has left, or has not been joined by this unit's agent yet
        (a new unit; a new leader whose leader-elected runs before its
        pending relation-joined hooks). Juju reports a unit departed as soon
        as its removal begins, while it may still be in its guarded work, so
        a departed hook is no proof that it let go: the grant ends when
        goal-state no longer lists the unit, or its relation data (read
        directly) shows it let go. Without goal-state, this unit having run
        its relation-departed hook counts as proof.
        """
        if unit == self._unit:
            return self._requests[unit].get(lock) == ts or self._orphans.get(lock) == ts
        if unit in self._requests:
            return _grant_stands(
                self._requests[unit].get(lock), self._released.get(unit, {}).get(lock, ""), ts
            )
        if self.relid is None or self._dying:
            # No relation to look at yet; or the peers this unit no longer
            # lists are leaving *it* (it is being removed), not the model.
            return True
        present = self._goal_state_units()
        if present is None:
            # No goal-state: this unit's own departed hook is the best
            # evidence there is (it may come while a dying unit still works).
            if unit in _recorded_departures():
                _log(f"{unit} held {lock!r} and has left the relation")
                return False
        elif unit not in present:
            _log(f"{unit} held {lock!r} and is no longer a unit of the application")
            return False
        if unit not in self._strangers:
            self._strangers[unit] = self._read_stranger(unit)
        data = self._strangers[unit]
        if data is None:
            # Unreadable: keep the grant while goal-state says the unit exists;
            # without goal-state (Juju < 2.4) no settings at all means it left.
            return present is not None
        requested, released = self._parse_peer(unit, data)
        return _grant_stands(requested.get(lock), released.get(lock, ""), ts)

    @staticmethod
    def _record_departure(unit):
        """Remember that this unit ran relation-departed for ``unit``.

        Juju keeps a unit's relation settings for the relation's lifetime, so
        they cannot show that it left. goal-state can; without it (Juju
        before 2.4) this record, kept by every unit whether leader or not,
        is the evidence.
        """
        departed = _recorded_departures()
        if unit not in departed:
            unitdata.kv().set(_DEPARTED_KEY, (departed + [unit])[-_DEPARTED_KEPT:])

    def _goal_state_units(self):
        """The application's unit names from goal-state (once per hook), or None if unavailable.

        A unit is listed until it is removed from the model (as ``dying``
        while being removed). A subordinate's goal-state lists only the
        units of its own principal, so a list without this unit in it is
        treated as unavailable.
        """
        if self._goal_units is False:
            self._goal_units = None
            try:
                units = hookenv.goal_state().get("units")
            except Exception as exc:  # noqa: BLE001 -- Juju < 2.4 has no goal-state
                _log(f"goal-state is not available ({exc})", "DEBUG")
            else:
                if isinstance(units, dict) and self._unit in units:
                    self._goal_units = set(units)
        return self._goal_units

    def _read_stranger(self, unit):
        """Relation settings of a granted unit that is not in relation-list (None: unreadable)."""
        try:
            data = hookenv.relation_get(None, unit, self.relid)
        except Exception as exc:  # noqa: BLE001 -- the hook tool's error is the answer
            _log(f"cannot read {unit}'s relation data ({exc})", "DEBUG")
            return None
        if not isinstance(data, dict):
            return {}
        _log(
            f"{unit} holds a grant and has not joined this unit yet; judging by its data", "DEBUG"
        )
        return data

    def _publish_own_grant(self):
        """Write the grants to the leader settings now, before the leader's own guarded work.

        Returns False, having written nothing, if this unit is no longer the
        leader. It writes even when relation-list is empty: a unit that has
        just joined (or a leader whose joined hooks are still pending) lists
        no peers although they exist.
        """
        changes = self._leader_changes()
        if not changes:
            return True
        if not hookenv.is_leader():
            _log(
                "leadership lost during the hook; not granting this unit's own request", "WARNING"
            )
            self._leader = False
            return False
        hookenv.leader_set(changes)
        for key, value in changes.items():
            if value:
                self._loaded_settings[key] = value
            else:
                self._loaded_settings.pop(key, None)
        self._loaded_grants = _without_empty(self.grants)
        self._grants_garbled = False
        return True

    def grant(self, lock, unit):
        """Grant ``lock`` to ``unit`` if the policy allows; return True if granted.

        The policy is ``grant_<lock>`` when the class defines it, else
        ``default_grant``; both are called as ``(lock, unit, granted, queue)``
        where ``granted`` is the set of other units holding ``lock`` and
        ``queue`` lists the units waiting for it in request order.
        """
        if not self._leader:
            return False
        holders = {u for u, locks in self.grants.items() if lock in locks}
        if unit in holders:
            return True
        ts = self._requests.get(unit, {}).get(lock)
        if ts is None or self.paused_since or self._revoked(unit, lock, ts):
            return False
        if self._defer_own(unit, lock):
            return False
        queue = [
            u
            for _, u in sorted(
                (self._order(u, locks[lock]), u)
                for u, locks in self._requests.items()
                if lock in locks and u not in holders and not self._revoked(u, lock, locks[lock])
            )
        ]
        policy = getattr(self, f"grant_{lock}", self.default_grant)
        if policy(lock, unit, holders, queue):
            self.grants.setdefault(unit, {})[lock] = ts
            self.granted_at.setdefault(unit, {})[lock] = _timestamp()
            if unit == self._unit and not self._publish_own_grant():
                del self.grants[unit][lock]
                self.granted_at[unit].pop(lock, None)
                return False
            _log(f"leader grants {lock!r} to {unit}")
            return True
        return False

    def default_grant(self, lock, unit, granted, queue):
        """Grant ``lock`` to the first unit in the queue when nobody holds it."""
        return unit == queue[0] and not granted

    def released(self, unit, lock, timestamp):
        """Called on the leader when ``unit`` has released ``lock``.

        ``timestamp`` is the naive UTC time of the granted request. Override
        for housekeeping; the default logs how long the lock was held.
        """
        held = _utcnow() - timestamp
        _log(f"{unit} released {lock!r} (requested {held} ago)")

    def msg(self, msg, level="INFO"):
        """Log a message from policy code through the layer's logger (INFO by default).

        ``level`` is a Juju log level name (``hookenv.DEBUG``, ``"WARNING"``, ...);
        the ``log_level`` layer option filters it like the layer's own messages.
        """
        level = str(level).upper()
        if level == "TRACE":
            level = "DEBUG"
        _log(msg, level if level in _LEVELS else "INFO")

    # -- end of hook ------------------------------------------------------

    def _release_granted(self):
        own = self._requests[self._unit]
        for lock in sorted(own):
            if self.granted(lock) and lock not in self._held:
                del own[lock]
                _log(f"{self._unit} releases {lock!r}")

    def _end_of_hook(self):
        """Release this hook's grants, re-grant on the leader, publish changes."""
        self._orphans = {}  # unclaimed in this hook: let go
        self._release_granted()
        self.handle()  # the leader passes what it released to the next unit
        self._save_state()
        if self._status_at_start is not None:
            self._show_waiting_status()

    def _show_waiting_status(self):
        """Show 'waiting' with this unit's queue place (layer option waiting_status).

        Never overwrites a status the charm changed during this hook, nor a
        'blocked' one; restores the status it replaced once nothing waits.
        """
        kv = unitdata.kv()
        shown = kv.get(_STATUS_KEY)
        own = self._requests[self._unit]
        waiting = sorted((ts, lock) for lock, ts in own.items() if not self.granted(lock))
        if not waiting and not shown:
            return
        current = tuple(hookenv.status_get())
        if current != self._status_at_start or current[0] == "blocked":
            kv.unset(_STATUS_KEY)  # the charm owns the status now
            return
        if waiting:
            lock = waiting[0][1]
            queue = self.queue(lock)
            place = queue.index(self._unit) + 1 if self._unit in queue else 1
            extra = f" (+{len(waiting) - 1} more locks)" if len(waiting) > 1 else ""
            message = f"Waiting for lock {lock!r}: {place} of {len(queue)} in queue{extra}"
            if current != ("waiting", message):
                hookenv.status_set("waiting", message)
            prior = shown["prior"] if shown else list(current)
            kv.set(_STATUS_KEY, {"prior": prior, "ours": ["waiting", message]})
        else:
            if list(current) == shown["ours"]:
                status, message = shown["prior"]
                if status not in ("maintenance", "blocked", "waiting", "active"):
                    status, message = "active", ""
                hookenv.status_set(status, message)
            kv.unset(_STATUS_KEY)

    def _save_state(self):
        own = self._requests[self._unit]
        self._held &= set(own)
        if self._held != self._loaded_held:
            unitdata.kv().set(_HELD_KEY, sorted(self._held))
        stored = self._loaded_grants  # the grants in the leader settings after this hook
        if self._leader:
            changes = self._leader_changes()
            if changes:
                if hookenv.is_leader():
                    hookenv.leader_set(changes)
                    stored = _without_empty(self.grants)
                else:
                    _log(
                        "leadership lost during the hook; the new leader will decide grants",
                        "WARNING",
                    )
            else:
                stored = _without_empty(self.grants)
            view = {
                "relid": self.relid,
                "units": {
                    u: locks
                    for u, locks in self._requests.items()
                    if u != self._unit and u not in self._unreadable
                },
                "released": {
                    u: marker
                    for u, marker in self._released.items()
                    if marker and u in self._requests and u not in self._unreadable
                },
            }
            if view != self._loaded_view:
                unitdata.kv().set(_VIEW_KEY, view)
        else:
            unitdata.kv().unset(_VIEW_KEY)
        if not self._own_on_relation:
            if own != self._loaded_own:
                unitdata.kv().set(_LOCAL_KEY, own)
        else:
            settings = {}
            if own != self._loaded_own:
                settings[self.key] = _dump(own)
            # Say which grants this unit has given up, so that a leader who
            # never saw the request (see _still_held) can hand the lock on.
            marker = dict(self._loaded_marker)
            for lock, ts in stored.get(self._unit, {}).items():
                if own.get(lock) != ts and marker.get(lock, "") < ts:
                    marker[lock] = ts
            if marker != self._loaded_marker:
                settings[self._released_key] = _dump(marker)
            if settings:
                hookenv.relation_set(self.relid, relation_settings=settings)
            if self._pending_local:
                unitdata.kv().unset(_LOCAL_KEY)

    def _leader_changes(self):
        """Return the leader settings that differ from those loaded ('' deletes)."""
        grants = _without_empty(self.grants)
        since = _without_empty(
            {
                unit: {lock: t for lock, t in locks.items() if lock in grants.get(unit, {})}
                for unit, locks in self.granted_at.items()
            }
        )
        wanted = {
            self.key: _dump(grants),
            _SINCE_KEY: _dump(since) if since else "",
            _REVOKED_KEY: _dump(self.revoked) if self.revoked else "",
            _PAUSED_KEY: self.paused_since or "",
            _LEADER_KEY: self._unit,
        }
        changes = {}
        for key, value in wanted.items():
            if key == self.key:
                if grants != self._loaded_grants or self._grants_garbled:
                    changes[key] = value
            elif (self._loaded_settings.get(key) or "") != value:
                changes[key] = value
        return changes


def _recorded_departures():
    """The peers whose relation-departed this unit has run, oldest first (unitdata)."""
    stored = unitdata.kv().get(_DEPARTED_KEY)
    return [u for u in stored if isinstance(u, str)] if isinstance(stored, list) else []


def _grant_stands(requested, released, ts):
    """Whether a peer still holds the grant of its request ``ts``, judging by its data.

    ``requested`` is the request timestamp its relation data shows for the
    lock (None: no request), ``released`` the latest grant it says it
    released (``<key>-released``; "" for none). The grant stands while the
    request is ``ts``. It ends when the peer says it released it, or asks
    again (a newer request). A peer without a request keeps it: a leader
    publishes a grant to itself before its guarded work while its request
    reaches the relation only when that hook ends, and a new leader elected
    meanwhile must not hand the lock on. An older request than ``ts`` is
    this unit agent's stale copy of the peer's data (Juju refreshes it only
    in a relation-changed hook for that peer), and proves nothing either.
    """
    if requested == ts:
        return True
    if released >= ts:
        return False
    return requested is None or requested < ts


class SimpleCoordinator(LayerCoordinator):
    """The default policy: N units at a time hold locks, whatever their names.

    N is ``concurrency()``: 1 unless the ``concurrency`` option says more.
    A unit holding any grant is granted every other lock it asks for;
    otherwise ``lock`` goes to the first unit in its queue, and only while
    fewer than N units hold anything.
    """

    def default_grant(self, lock, unit, granted, queue):
        holders = {u for u, locks in self.grants.items() if locks}
        if unit in holders:
            return True
        return len(holders) < self.concurrency() and unit == queue[0]


# --------------------------------------------------------------------------
# Module API


_state = {}


def __getattr__(name):
    # PEP 562: build the singleton on first access, not at import, so a
    # charm's own policy module can import charms.coordinator to subclass
    # SimpleCoordinator without a circular import.
    if name == "coordinator":
        if "coordinator" not in _state:
            _state["coordinator"] = coordinator_class()(KEY, RELATION_NAME)
        return _state["coordinator"]
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
    """
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
    return waiting.index(c._unit) + 1 if c._unit in waiting else None


def holders(lock):
    """Return the units currently granted ``lock``, sorted."""
    _check_lock(lock)
    return _started().holders(lock)


# --------------------------------------------------------------------------
# Operator actions (actions/coordinator-*)


class ActionError(Exception):
    """An action cannot do what was asked; the message says why."""


def _action_coordinator(action):
    """The coordinator, initialized, for an action."""
    c = __getattr__("coordinator")
    c.initialize()
    return c


def _require_leader(c, action):
    if not c._leader:
        leader = c.leader_unit or "the leader (juju status marks it with *)"
        raise ActionError(
            f"{action} changes leader settings, so it runs on the leader: "
            f"run it on {leader}, not {c._unit}"
        )


def _age(ts, now):
    seconds = (now - _parse_timestamp(ts)).total_seconds()
    return max(0, int(seconds))


def status_report():
    """Return the coordination state as plain data (what coordinator-status shows)."""
    c = _action_coordinator("coordinator-status")
    now = _utcnow()
    locks = sorted(
        {lock for locks in c.requests.values() for lock in locks}
        | {lock for locks in c.grants.values() for lock in locks}
    )
    report_locks = []
    for lock in locks:
        holders_ = []
        for unit in c.holders(lock):
            since = c.granted_at.get(unit, {}).get(lock)
            holders_.append(
                {
                    "unit": unit,
                    "requested": c.grants[unit][lock],
                    "granted": since,
                    "held-seconds": _age(since, now) if since else None,
                }
            )
        queue = []
        for unit in c.queue(lock):
            ts = c.requests[unit][lock]
            queue.append({"unit": unit, "requested": ts, "waiting-seconds": _age(ts, now)})
        report_locks.append({"name": lock, "holders": holders_, "queue": queue})
    policy = {"class": type(c).__name__, "order": _order_option()}
    if isinstance(c, SimpleCoordinator):
        policy["concurrency"] = c.concurrency()
    return {
        "unit": c._unit,
        "leader": c.leader_unit,
        "paused": bool(c.paused_since),
        "paused-since": c.paused_since,
        "policy": policy,
        "locks": report_locks,
    }


def format_report(report):
    """Render a status_report() for people."""
    policy = report["policy"]
    lines = [
        "policy: {}{}, order {}".format(
            policy["class"],
            f" (concurrency {policy['concurrency']})" if "concurrency" in policy else "",
            policy["order"],
        ),
        "granting: "
        + (f"PAUSED since {report['paused-since']}" if report["paused"] else "active"),
        f"leader: {report['leader'] or 'unknown'}",
    ]
    if not report["locks"]:
        lines.append("no lock is held or requested")
    for lock in report["locks"]:
        lines.append(f"lock {lock['name']!r}:")
        for h in lock["holders"]:
            held = f"held for {h['held-seconds']}s" if h["held-seconds"] is not None else "held"
            lines.append(f"  held by {h['unit']} ({held}, requested {h['requested']})")
        if not lock["holders"]:
            lines.append("  held by nobody")
        for n, q in enumerate(lock["queue"], 1):
            lines.append(f"  {n}. {q['unit']} waiting {q['waiting-seconds']}s")
    return "\n".join(lines)


def pause():
    """Stop granting locks (leader only); held grants stay. Return True if it changed."""
    c = _action_coordinator("coordinator-pause")
    _require_leader(c, "coordinator-pause")
    if c.paused_since:
        return False
    c.paused_since = _timestamp()
    _log(f"granting paused by an operator at {c.paused_since}", "WARNING")
    c._save_state()
    return True


def resume():
    """Grant again (leader only), at once where possible. Return True if it changed."""
    c = _action_coordinator("coordinator-resume")
    _require_leader(c, "coordinator-resume")
    if not c.paused_since:
        return False
    c.paused_since = None
    _log("granting resumed by an operator", "WARNING")
    c.handle()
    c._save_state()
    return True


def revoke(unit, lock=None):
    """Revoke ``unit``'s grant of ``lock`` (all its grants if None); leader only.

    The next waiting unit is granted at once. The revoked request is dropped
    by ``unit`` when it next runs a hook; it asks again if it still needs the
    lock. Returns the revoked lock names.
    """
    c = _action_coordinator("coordinator-release")
    _require_leader(c, "coordinator-release")
    held = c.grants.get(unit, {})
    names = sorted(held) if lock is None else [lock] if lock in held else []
    if not names:
        what = "lock" if lock is None else f"lock {lock!r}"
        holding = {u: sorted(locks) for u, locks in c.grants.items()}
        raise ActionError(f"{unit} holds no {what}; current holders: {holding or 'none'}")
    for name in names:
        c.revoked.setdefault(unit, {})[name] = held[name]
        _log(f"operator revoked {unit}'s {name!r}", "WARNING")
    c.handle()
    c._save_state()
    return names


def run_action(name):
    """Run the layer's action ``name`` (called by the scripts in actions/)."""
    try:
        if name == "coordinator-status":
            report = status_report()
            text = format_report(report)
            print(text)
            hookenv.action_set(
                {
                    "summary": text,
                    "leader": report["leader"] or "",
                    "paused": str(report["paused"]).lower(),
                    "policy": _dump(report["policy"]),
                    "locks": _dump(report["locks"]),
                }
            )
        elif name == "coordinator-pause":
            changed = pause()
            hookenv.action_set({"paused": "true", "changed": str(changed).lower()})
        elif name == "coordinator-resume":
            changed = resume()
            hookenv.action_set({"paused": "false", "changed": str(changed).lower()})
        elif name == "coordinator-release":
            params = hookenv.action_get() or {}
            unit = params.get("unit")
            if not unit:
                raise ActionError("coordinator-release needs unit=<unit name>")
            names = revoke(unit, params.get("lock") or None)
            hookenv.action_set({"revoked": _dump(names), "unit": unit})
        else:
            raise ActionError(f"unknown action {name!r}")
    except (ActionError, OptionError) as exc:
        hookenv.action_fail(str(exc))
    finally:
        unitdata.kv().flush()
