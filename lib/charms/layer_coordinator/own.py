# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""This unit's own coordination data: its requests, release records and memory.

Its requests and release records live in its settings of the peer relation
(committed with the hook). Before the relation can hold them they are kept
in unitdata, which charms.reactive writes when the hook succeeds, before
Juju commits the relation data. unitdata also keeps its
latest request time (requests only move forward) and the peers whose
relation-departed hook it ran (evidence that a peer left, on Juju without
goal-state).
"""

from datetime import timedelta

from charmhelpers.core import unitdata

from . import wire
from .options import log
from .transport import Unreadable

__all__ = ["OwnData", "next_request_timestamp", "record_departure", "recorded_departures"]

_DEPARTED_KEPT = 1000  # the most recent departures remembered


class OwnData:
    """This unit's requests and release records, and where they are kept.

    Requests live in this unit's relation settings. Before the peer
    relation exists, or while Juju cannot serve this unit's own settings
    (in relation-created, before the unit has entered the relation's
    scope), they are kept in unitdata; the first hook that can read the
    relation publishes them. unitdata is written when the hook process
    exits, before Juju commits the hook's relation data, and Juju can still
    refuse that commit (a leader that lost its lease meanwhile): so unitdata
    keeps each request until the relation data shows it published.
    """

    def __init__(self, requests, released, on_relation, unpublished):
        self.requests = requests  # as loaded (merged with pending local ones)
        self.loaded = dict(requests)
        self.released = released  # this unit's release records as loaded
        self.on_relation = on_relation
        self.unpublished = unpublished  # kept in unitdata, not yet in the relation data
        self.local = dict(unpublished)  # what unitdata keeps, as loaded
        self.awake = None  # this unit's "coordinator-awake" value as loaded

    @classmethod
    def load(cls, transport, unit, key, use_copy=False, grants=None):
        """Load this unit's requests and release records.

        With ``use_copy`` (a hook of the peer relation itself) they come from
        the copy unitdata keeps of what this unit last read, when there is
        one: only this unit writes its settings, and a hook that writes them
        drops the copy, so the next hook reads what Juju committed (or
        refused). Any other hook reads them from Juju, and so does one in
        which the leader-owned data holds a grant for this unit that the
        copy has no request or release record for (``grants``): charm code
        may have written the layer's keys itself.
        """
        kv = unitdata.kv()
        pending = wire.parse_locks(kv.get(wire.LOCAL_KEY), "requests kept in unitdata")
        if transport.relation_id is None:
            log("no peer relation yet; requests kept locally", "DEBUG")
            return cls(pending, {}, False, pending)
        copy = _copy(kv.get(wire.OWN_KEY), transport.relation_id) if use_copy else None
        if copy is not None and _unexplained(grants or {}, {**pending, **copy[0]}, copy[1]):
            copy = None
        if copy is not None:
            published, released, awake = copy
        else:
            try:
                settings = transport.read_unit(unit)
            except Unreadable as exc:
                log(
                    f"own relation settings not readable yet ({exc}); keeping requests locally",
                    "DEBUG",
                )
                return cls(pending, {}, False, pending)
            settings = settings or {}
            rkey = wire.released_key(key)
            published = wire.parse_locks(settings.get(key), f"this unit's {key!r} relation data")
            released = wire.parse_locks(settings.get(rkey), f"this unit's {rkey!r} data")
            awake = settings.get(wire.AWAKE_KEY)
            copy = {
                "relation": transport.relation_id,
                "requests": published,
                "released": released,
                "awake": awake,
            }
            if kv.get(wire.OWN_KEY) != copy:
                kv.set(wire.OWN_KEY, copy)
        # A request the relation data shows (or shows let go) is published.
        unpublished = {
            lock: ts
            for lock, ts in pending.items()
            if published.get(lock, "") < ts and released.get(lock, "") < ts
        }
        if unpublished:
            log(
                f"requests kept in unitdata, not in the relation data: {sorted(unpublished)}",
                "DEBUG",
            )
        merged = dict(unpublished)
        merged.update(published)
        own = cls(merged, released, True, unpublished)
        own.local = pending
        own.awake = awake
        own.loaded = dict(published)
        return own

    def save(self, transport, own, stored, awake=None, withheld=()):
        """Write this unit's requests and release records if they changed.

        ``stored`` is this unit's grants as the leader-owned data holds them
        after this hook: a grant there whose request is gone is recorded as
        released, so that a leader who never saw the request can hand the
        lock on. ``awake`` is the wake this unit answers (written once).

        ``withheld`` names requests of the leader that its own grant in the
        leader-owned data stands for: they are kept in unitdata, not
        published (a broadcast to every peer that nobody needs). Should the
        unit lose leadership first, its next hook publishes them; a new
        leader keeps a grant whose holder shows no request meanwhile.
        """
        kv = unitdata.kv()
        if not self.on_relation:
            if own != self.loaded:
                kv.set(wire.LOCAL_KEY, own)
            return
        settings = {}
        publish = {lock: ts for lock, ts in own.items() if lock not in withheld}
        if publish != self.loaded:
            settings[transport.key] = wire.dump(publish)
        marker = dict(self.released)
        for lock, ts in stored.items():
            if own.get(lock) != ts and marker.get(lock, "") < ts:
                marker[lock] = ts
        if marker != self.released:
            settings[wire.released_key(transport.key)] = wire.dump(marker)
        if awake is not None and awake != self.awake:
            settings[wire.AWAKE_KEY] = awake
        if settings:
            transport.write_own(settings)
            kv.unset(wire.OWN_KEY)  # the next hook reads what Juju committed
        # Kept until a later hook finds them in the relation data.
        keep = {
            lock: ts
            for lock, ts in own.items()
            if lock in withheld or self.unpublished.get(lock) == ts
        }
        if keep != self.local:
            if keep:
                kv.set(wire.LOCAL_KEY, keep)
            else:
                kv.unset(wire.LOCAL_KEY)


def _copy(stored, relation_id):
    """(requests, release records, awake) from unitdata's copy, or None if unusable."""
    if not isinstance(stored, dict) or stored.get("relation") != relation_id:
        return None
    requests, released = stored.get("requests"), stored.get("released")
    awake = stored.get("awake")
    if not isinstance(requests, dict) or not isinstance(released, dict):
        return None
    if awake is not None and not isinstance(awake, str):
        return None
    source = "unitdata's copy of this unit's settings"
    return wire.parse_locks(requests, source), wire.parse_locks(released, source), awake


def _unexplained(grants, requests, released):
    """Whether a grant answers no request or release record of this unit's."""
    return any(
        requests.get(lock) != ts and released.get(lock, "") < ts for lock, ts in grants.items()
    )


def next_request_timestamp():
    """The time of a new request: now, but always later than this unit's previous request.

    A unit's requests must only move forward, even if its clock steps back:
    a leader takes a newer request as proof that an older grant was let go.
    """
    ts = wire.timestamp()
    kv = unitdata.kv()
    last = kv.get(wire.LAST_REQUEST_KEY)
    if wire.valid_timestamp(last) and ts <= last:
        ts = wire.format_timestamp(wire.parse_timestamp(last) + timedelta(microseconds=1))
    kv.set(wire.LAST_REQUEST_KEY, ts)
    return ts


def recorded_departures():
    """The peers whose relation-departed this unit has run, oldest first (unitdata)."""
    stored = unitdata.kv().get(wire.DEPARTED_KEY)
    return [u for u in stored if isinstance(u, str)] if isinstance(stored, list) else []


def record_departure(unit):
    """Remember that this unit ran relation-departed for ``unit``.

    Juju keeps a unit's relation settings for the relation's lifetime, so
    they cannot show that it left. goal-state can; without it (Juju before
    2.4) this record, kept by every unit whether leader or not, is the
    evidence.
    """
    departed = recorded_departures()
    if unit not in departed:
        unitdata.kv().set(wire.DEPARTED_KEY, (departed + [unit])[-_DEPARTED_KEPT:])
