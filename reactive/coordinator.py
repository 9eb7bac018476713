# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Keep the ``coordinator.*`` flags in step with this unit's locks.

At the start of every hook, ``charms.coordinator.sync_flags`` loads the
coordination state (on the leader it also grants what can be granted) and
sets ``coordinator.granted.<lock>`` / ``coordinator.requested.<lock>``
before any charm handler runs. At the end of every successful hook, after
the coordinator has released this hook's grants and published its data,
``charms.coordinator.clear_granted_flags`` clears every
``coordinator.granted.*`` flag: a grant lasts one hook, unless its lock was
acquired with ``hold=True`` and is still held.

The logic lives in ``charms.coordinator`` (the public API) and the package
``charms.layer_coordinator`` behind it; this module only wires it
to the hook's start and end.
"""

from charmhelpers.core import hookenv

import charms.coordinator

hookenv.atstart(charms.coordinator.sync_flags)
# atexit callbacks run in reverse order of registration: this one, registered
# at import, runs after the coordinator's own end-of-hook callback, which
# sync_flags registers when the hook starts.
hookenv.atexit(charms.coordinator.clear_granted_flags)
