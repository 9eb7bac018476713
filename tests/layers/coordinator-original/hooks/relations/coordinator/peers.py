# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The ``coordinator`` peer endpoint of the original-protocol stand-in layer.

Test-only (see ``lib/charms/coordinator.py``). A plain ``charms.reactive``
``Endpoint``: its automatic flags ``endpoint.coordinator.joined``,
``.departed`` and ``.changed[.<key>]``. To detect changes, charms.reactive
reads the whole relation data of every joined peer (one relation-get each) in
every ``coordinator-relation-*`` hook, on top of the coordinator's own read of
every peer: the cost the original layer's peer endpoint adds to those hooks.
"""

from charms.reactive import Endpoint


class CoordinatorPeers(Endpoint):
    """Peers of this unit on the ``coordinator`` relation; charms.reactive's defaults."""
