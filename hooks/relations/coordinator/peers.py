# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The ``coordinator`` peer endpoint (interface ``coordinator``, role ``peers``).

Each unit publishes its lock requests under the key ``coordinator`` of its
own settings on this relation; ``charms.coordinator`` reads and writes them.
This endpoint keeps the standard automatic flags
``endpoint.coordinator.joined`` (set while at least one peer is joined) and
``endpoint.coordinator.departed`` (set in a departed hook; cleared at the
start of the next other hook while a peer is still joined), and offers the
list of peer units.

It does not set ``endpoint.coordinator.changed*``: detecting those means
reading every peer's data in every relation hook, a cost that grows with the
application and buys nothing here, since the coordinator tracks changes
itself.
"""

from charmhelpers.core import hookenv
from charms.reactive import Endpoint, clear_flag, set_flag, toggle_flag


class CoordinatorPeers(Endpoint):
    """Peers of this unit on the ``coordinator`` relation."""

    def _manage_flags(self):
        # Endpoint._manage_flags hashes every joined unit's data in each
        # relation hook to set 'changed' flags: O(units) relation-get calls
        # per hook. Keep only the membership flags, which cost one
        # relation-list call (shared through hookenv's per-hook cache).
        hook = hookenv.hook_name()
        departed_hook = hook == f"{self.endpoint_name}-relation-departed"
        toggle_flag(self.expand_name("joined"), self.is_joined)
        if departed_hook:
            set_flag(self.expand_name("departed"))
        elif self.is_joined:
            clear_flag(self.expand_name("departed"))
        self.manage_flags()

    @property
    def peer_units(self):
        """Names of the other units on the relation, sorted."""
        return sorted(unit.unit_name for unit in self.all_joined_units)
