# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The wire format: every key, timestamp and JSON document the layer keeps.

The format is charmhelpers.coordinator's, so that units on an older charm
revision read and write the same data during an upgrade:

- each unit's requests: ``{lock: timestamp}`` as JSON under ``coordinator``
  in its own settings of the ``coordinator`` peer relation;
- the grants: ``{unit: {lock: timestamp}}`` as JSON under ``coordinator`` in
  the leader-owned data, where the timestamp is that of the request granted.

The layer adds, in the unit's peer settings, ``coordinator-released``
(``{lock: timestamp}``: the latest grant of each lock the unit let go), and in
the leader-owned data ``coordinator-granted-at``, ``coordinator-revoked``
(both ``{unit: {lock: timestamp}}``), ``coordinator-paused`` (a timestamp),
``coordinator-leader`` (the leader's unit name) and ``coordinator-wake``
(``"<unit> <timestamp>"``: the peer asked to answer the leader's grant to
itself, which answers with ``coordinator-awake: <timestamp>`` in its own
settings). Timestamps are UTC, in charmhelpers' format, so they sort as
strings.

This module is the only one that knows the JSON. Parsing never raises on bad
data: what is invalid is dropped with one WARNING naming where it came from.
"""

import json
from datetime import datetime, timezone

from .options import log
from .quiet import MEMO_KEY as QUIET_KEY  # noqa: F401 -- unitdata: the quiet-hook memo
from .quiet import RELATION_NAME  # noqa: F401 -- defined where every hook reads it

#: Relation name, and the data key of requests and grants.
KEY = "coordinator"

#: Leader-owned keys besides KEY.
PAUSED_KEY = "coordinator-paused"  # when granting was paused; absent while granting
REVOKED_KEY = "coordinator-revoked"  # {unit: {lock: request timestamp}} revoked by an operator
SINCE_KEY = "coordinator-granted-at"  # {unit: {lock: time of the grant}}
LEADER_KEY = "coordinator-leader"  # the leader's unit name, for messages on other units
WAKE_KEY = "coordinator-wake"  # "<unit> <timestamp>": the peer that wakes the leader

#: Unit key besides KEY and the release record: a waker's answer.
AWAKE_KEY = "coordinator-awake"  # the timestamp of the wake it answers

#: unitdata keys (this unit's private memory, written when the hook succeeds).
VIEW_KEY = "coordinator.leader-view"  # the leader's cached view of its peers' requests
STATUS_KEY = "coordinator.status"  # the waiting status shown: {"prior": [...], "ours": [...]}
LOCAL_KEY = "coordinator.local-requests"  # requests kept while the relation cannot hold them
HELD_KEY = "coordinator.held"  # locks acquired with hold=True
DEPARTED_KEY = "coordinator.departed"  # peers whose relation-departed this unit ran
LAST_REQUEST_KEY = "coordinator.last-request"  # this unit's latest request timestamp
LEGACY_KEY = "coordinator.legacy-grants"  # leader settings still hold an older layer's grants
OWN_KEY = "coordinator.own-settings"  # this unit's settings as last read, until it writes

#: charmhelpers' timestamp format.
TS_FORMAT = "%Y-%m-%d %H:%M:%S.%fZ"


def parse_wake(raw, place="application databag"):
    """The unit named by a ``coordinator-wake`` value and its timestamp, or None.

    None for no value; None with a WARNING naming the source for garbage.
    """
    if not raw:
        return None
    parts = raw.split(" ", 1) if isinstance(raw, str) else []
    if len(parts) != 2 or not parts[0] or not valid_timestamp(parts[1]):
        log(
            f"ignoring {place} {WAKE_KEY!r}: not '<unit> <timestamp>': {_describe(raw)}",
            "WARNING",
        )
        return None
    return parts[0], parts[1]


def released_key(key=KEY):
    """The peer settings key where a unit lists the grants it let go."""
    return f"{key}-released"


def utcnow():
    """Now, as a naive UTC datetime."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def timestamp():
    """Now, as a timestamp string."""
    return utcnow().strftime(TS_FORMAT)


def format_timestamp(when):
    return when.strftime(TS_FORMAT)


def parse_timestamp(value):
    """A timestamp string as a naive UTC datetime (ValueError if it is not one)."""
    return datetime.strptime(value, TS_FORMAT)


def valid_timestamp(value):
    if not isinstance(value, str):
        return False
    try:
        parse_timestamp(value)
    except ValueError:
        return False
    return True


def dump(data):
    """The JSON text of ``data``, keys sorted, so equal data is equal text."""
    return json.dumps(data, sort_keys=True)


def without_empty(mapping):
    """A copy of ``{unit: {lock: ...}}`` without units that have no locks."""
    return {unit: dict(locks) for unit, locks in mapping.items() if locks}


def _describe(raw, limit=60):
    text = repr(raw)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(raw)} characters)"
    return text


def _loads(raw):
    """``json.loads`` that fails only with ValueError (deep nesting included)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _object(raw, source):
    """``raw`` (JSON text, or already a value) as a dict; {} with a WARNING if it is not one."""
    try:
        data = _loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        log(f"ignoring {source}: not JSON: {_describe(raw)}", "WARNING")
        return {}
    if not isinstance(data, dict):
        log(f"ignoring {source}: not a JSON object: {_describe(raw)}", "WARNING")
        return {}
    return data


def parse_locks(raw, source):
    """Parse a ``{lock: timestamp}`` map (JSON text or a dict), keeping only valid entries.

    ``source`` names where the data came from, for the single warning that
    bad data earns. Returns a new dict.
    """
    if raw is None or raw == "":
        return {}
    data = _object(raw, source)
    locks = {
        lock: ts
        for lock, ts in data.items()
        if isinstance(lock, str) and lock and valid_timestamp(ts)
    }
    if len(locks) != len(data):
        log(
            f"ignoring {len(data) - len(locks)} of {len(data)} entries in {source}: "
            f"a lock name must be a non-empty string and a timestamp must look "
            f"like {timestamp()!r}",
            "WARNING",
        )
    return locks


def parse_grants(raw, key, place="application databag"):
    """Parse leader-owned JSON of the form ``{unit: {lock: timestamp}}``."""
    source = f"{place} {key!r}"
    if not raw:
        return {}
    grants = {}
    data = _object(raw, source)
    for unit, locks in data.items():
        if isinstance(unit, str) and isinstance(locks, dict):
            parsed = parse_locks(locks, f"{source} for {unit}")
            if parsed:
                grants[unit] = parsed
        else:
            log(f"ignoring entry {unit!r} of {source}", "WARNING")
    return grants


def locks_clean(raw, locks):
    """True if ``raw`` (a unit's requests text) holds nothing but the valid ``locks``."""
    if raw is None or raw == "":
        return True
    try:
        data = _loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and len(data) == len(locks)


def garbled(raw, grants):
    """True if the grants text ``raw`` holds more than the valid ``grants`` parsed from it.

    Entries without locks (``{unit: {}}``) count as valid: nothing is lost
    by dropping them, so they alone are no reason to rewrite the data.
    """
    if not raw:
        return False
    try:
        data = _loads(raw)
    except ValueError:
        return True
    if not isinstance(data, dict):
        return True
    return {unit: locks for unit, locks in data.items() if locks != {}} != grants


class PeerData:
    """What a unit's peer settings say: its requests and its release records."""

    __slots__ = ("requests", "released")

    def __init__(self, requests, released):
        self.requests = requests  # {lock: timestamp}
        self.released = released  # {lock: timestamp of the latest grant it let go}

    @classmethod
    def parse(cls, settings, whose, key=KEY):
        """Parse a unit's peer settings; ``whose`` names it in warnings ("app/1's")."""
        rkey = released_key(key)
        return cls(
            parse_locks(settings.get(key), f"{whose} {key!r} relation data"),
            parse_locks(settings.get(rkey), f"{whose} {rkey!r} relation data"),
        )
