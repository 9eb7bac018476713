# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The peers' requests and release records, as this unit knows them in one hook.

A non-leader reads its peers only if charm code asks about them. The leader
keeps a view of them in unitdata between hooks and re-reads a peer only when
its data can have changed: in a relation hook for that peer, when the peer
is new to the view, or every peer after it becomes leader and after
upgrade-charm. A peer whose data cannot be read keeps what the view knew,
and is read again next hook.
"""

from collections.abc import MutableMapping

from charmhelpers.core import hookenv, unitdata

from . import wire
from .options import log
from .transport import Unreadable

__all__ = ["PeerView"]


class PeerView:
    """Peers' data read through ``transport`` in this hook.

    ``released`` holds each peer's release records and ``unreadable`` the
    peers that could not be read; the ledger shares both.
    """

    def __init__(self, transport, unit, key=wire.KEY):
        self._transport = transport
        self._unit = unit
        self._key = key
        self.released = {}
        self.unreadable = set()
        self.fresh = set()  # read in its own joined/changed hook, clean
        self.seen = {}  # requests the leader saw before this hook (see core: seen)
        self.read_everyone = False  # the leader's view was missing or stale: all read
        self._loaded = None  # the leader's view as loaded from unitdata (None: none)

    def requests(self, own, leader, new_term=False):
        """Every unit's requests, this unit's being ``own``: complete now on the leader.

        ``new_term``: the leader-owned data names another leader, so this
        unit's view (and what it saw) is from an earlier term: read everyone.
        """
        if leader:
            return _Requests(self._unit, own, others=self._load_cached(new_term))
        return _Requests(self._unit, own, load_all=self._read_all)

    def _read(self, unit):
        """A peer's requests (recording its release records), or None if unreadable."""
        try:
            settings = self._transport.read_unit(unit)
        except Unreadable as exc:
            log(f"cannot read {unit}'s requests, will retry next hook: {exc}", "WARNING")
            self.unreadable.add(unit)
            return None
        data = wire.PeerData.parse(settings or {}, f"{unit}'s", self._key)
        self.released[unit] = data.released
        if (
            unit == hookenv.remote_unit()
            and hookenv.relation_id() == self._transport.relation_id
            and hookenv.hook_name().endswith(("-relation-changed", "-relation-joined"))
            and wire.locks_clean((settings or {}).get(self._key), data.requests)
        ):
            # Juju serves a peer's latest committed settings in its own hooks.
            self.fresh.add(unit)
        return data.requests

    def _read_all(self):
        if self._transport.relation_id is None:
            return {}
        units = {unit: self._read(unit) for unit in sorted(self._transport.members())}
        return {unit: locks for unit, locks in units.items() if locks is not None}

    def _load_cached(self, new_term=False):
        """The leader's view of its peers' requests, refreshing what can have changed."""
        view = unitdata.kv().get(wire.VIEW_KEY)
        if self._transport.relation_id is None:
            self._loaded = {}
            return {}
        members = self._transport.members()
        stale = (
            not isinstance(view, dict)
            or view.get("relid") != self._transport.relation_id
            or not isinstance(view.get("units"), dict)
            or not isinstance(view.get("released"), dict)
            or hookenv.hook_name() in ("leader-elected", "upgrade-charm")
            or new_term
        )
        if stale:
            log("leader reads every peer's requests", "DEBUG")
            units = {}
            self.read_everyone = True
        else:
            units = {u: locks for u, locks in view["units"].items() if u in members}
            self.released.update((u, r) for u, r in view["released"].items() if u in members)
            self.seen = _seen(view)
        to_read = members - set(units)
        remote = hookenv.remote_unit()
        if remote in members and hookenv.relation_id() == self._transport.relation_id:
            to_read.add(remote)
        cached = {} if stale else view["units"]
        for unit in sorted(to_read):
            locks = self._read(unit)
            if locks is None:
                # Keep what we knew, if anything; it is re-read next hook.
                if unit in cached:
                    units[unit] = cached[unit]
            else:
                units[unit] = locks
        self._loaded = view if not stale else None
        return units

    def save(self, requests, grants):
        """Keep the view for the next hook: requests, release records, grants' requests seen."""
        unreadable = self.unreadable
        seen = {}
        for unit, locks in grants.items():
            if unit == self._unit:
                continue
            mine = {
                lock: ts
                for lock, ts in locks.items()
                if ts in self.seen.get(unit, {}).get(lock, ())
                or (unit in requests and requests[unit].get(lock) == ts)
            }
            if mine:
                seen[unit] = mine
        view = {
            "relid": self._transport.relation_id,
            "units": {
                u: locks
                for u, locks in requests.items()
                if u != self._unit and u not in unreadable
            },
            "released": {
                u: marker
                for u, marker in self.released.items()
                if marker and u in requests and u not in unreadable
            },
            "seen": seen,
        }
        if view != self._loaded:
            unitdata.kv().set(wire.VIEW_KEY, view)

    @staticmethod
    def forget():
        """Drop the leader's view (this unit does not lead)."""
        unitdata.kv().unset(wire.VIEW_KEY)


def _seen(view):
    """``{unit: {lock: {ts}}}`` seen before: the view's requests and its ``seen`` grants."""
    seen = {}
    for source in (view.get("seen"), view.get("units")):
        if not isinstance(source, dict):
            continue
        for unit, locks in source.items():
            if isinstance(locks, dict):
                for lock, ts in locks.items():
                    if isinstance(lock, str) and isinstance(ts, str):
                        seen.setdefault(unit, {}).setdefault(lock, set()).add(ts)
    return seen


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
