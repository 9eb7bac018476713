# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Membership evidence: whether a granted unit that is not a member still exists.

Read lazily, at most once per hook each, and only when such a unit holds a
grant: goal-state (Juju 2.4 and later), the departures this unit recorded,
and the unit's own peer data.
"""

from charmhelpers.core import hookenv

from . import wire
from .core import Evidence
from .options import log
from .own import recorded_departures
from .transport import Unreadable

__all__ = ["MembershipEvidence"]


class MembershipEvidence(Evidence):
    """Whether a stranger still exists: goal-state, departures, its own data.

    Each is read at most once per hook, and only when a stranger holds a
    grant.
    """

    def __init__(self, transport, unit, key):
        self._transport = transport
        self._unit = unit
        self._key = key
        self._goal = {}  # {"units": set or None, "dying": set} once read
        self._data = {}  # {unit: PeerData or None}

    def goal_units(self):
        """The application's unit names from goal-state, or None if unavailable.

        A unit is listed until it is removed from the model (as ``dying``
        while being removed). A subordinate's goal-state lists only the
        units of its own principal, so a list without this unit in it is
        treated as unavailable.
        """
        if "units" not in self._goal:
            self._goal["units"], self._goal["dying"] = None, set()
            try:
                units = hookenv.goal_state().get("units")
            except Exception as exc:  # noqa: BLE001 -- Juju < 2.4 has no goal-state
                log(f"goal-state is not available ({exc})", "DEBUG")
            else:
                if isinstance(units, dict) and self._unit in units:
                    self._goal["units"] = set(units)
                    self._goal["dying"] = {
                        u
                        for u, state in units.items()
                        if isinstance(state, dict) and state.get("status") == "dying"
                    }
        return self._goal["units"]

    def goal_dying(self):
        """The units goal-state lists as being removed (empty if unavailable)."""
        self.goal_units()
        return self._goal["dying"]

    def departed(self, unit):
        return unit in recorded_departures()

    def peer_data(self, unit):
        if unit not in self._data:
            try:
                settings = self._transport.read_unit(unit)
            except Unreadable as exc:
                log(f"cannot read {unit}'s relation data ({exc})", "DEBUG")
                self._data[unit] = None
            else:
                if settings is None:
                    settings = {}  # no settings at all: no request, no release record
                else:
                    log(
                        f"{unit} holds a grant and has not joined this unit yet; "
                        "judging by its data",
                        "DEBUG",
                    )
                self._data[unit] = wire.PeerData.parse(settings, f"{unit}'s", self._key)
        return self._data[unit]
