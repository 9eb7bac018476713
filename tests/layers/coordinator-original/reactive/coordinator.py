# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Keep the ``coordinator.*`` flags in step at the start of every hook.

Test-only stand-in for the original layer:coordinator's reactive module (see
``lib/charms/coordinator.py``). Importing ``charms.coordinator`` builds the
coordinator, whose ``initialize`` and ``handle`` run first when the hook
starts; ``sync_flags`` runs after them. No end-of-hook callback: the granted
flag of a released lock stays set until the next hook's start clears it.
"""

from charmhelpers.core import hookenv

import charms.coordinator

hookenv.atstart(charms.coordinator.sync_flags)
