# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Where the coordination data lives: the seam between the protocol and Juju.

Two kinds of data cross it, both in the ``coordinator`` peer relation:

- *leader-owned data* (the grants, when each was made, revocations, pause,
  the leader's name): in the relation's application databag, written by the
  leader only (``relation-set --app``), read by every unit
  (``relation-get --app``);
- *unit data* (a unit's requests and release records): each unit writes its
  own settings of the relation; the leader reads them.

Both commit with the hook, in one commit, only when the hook succeeds, and
Juju refuses the whole commit of a hook whose unit wrote the application
databag and no longer leads by then. Juju 4 removed leader settings
(``leader-get`` / ``leader-set``); the databag works the same way on every
Juju this layer supports (2.9, 3.6 and 4), so it is the one place for
leader-owned data on all of them (docs/protocol.md, "Where the data
lives", gives the reasons and the measurements).

Nothing here decides anything: the shell asks for data and hands back
changes.
"""

import os
import subprocess
import tempfile

import yaml
from charmhelpers.core import hookenv

from . import wire

__all__ = ["LeaderData", "PeerRelationTransport", "Unreadable"]


class PeerRelationTransport:
    """Leader-owned data in the application databag; unit data in unit settings.

    ``relation_id`` is the peer relation's id, or None before it exists
    (then there is nowhere to keep leader-owned data: nobody is granted
    anything until the relation exists).
    """

    #: Where leader-owned data lives, as warnings name it.
    place = "application databag"

    def __init__(self, relation_name=wire.RELATION_NAME, key=wire.KEY):
        self.key = key
        relids = hookenv.relation_ids(relation_name)
        self.relation_id = sorted(relids)[0] if relids else None
        self._loaded = {}  # the leader-owned settings as last read or written
        self._loaded_grants = {}
        self._garbled = False
        self.wrote = False  # whether this hook wrote any relation data

    # -- leader-owned data ----------------------------------------------------

    def read_leader_data(self, leader):
        """Read the leader-owned data: returns :class:`LeaderData`.

        Raises :class:`Unreadable` if Juju refuses to read it. On the
        leader, grants text holding more than its valid grants (garbage) is
        rewritten by the next :meth:`publish`, even when the grants are
        unchanged.
        """
        settings = {}
        if self.relation_id is not None:
            app = hookenv.application_name()
            try:
                settings = hookenv.relation_get(rid=self.relation_id, app=app)
            except Exception as exc:  # noqa: BLE001 -- the hook tool's error is the answer
                raise Unreadable(f"the {self.place}", exc) from exc
            if not isinstance(settings, dict):
                # charmhelpers answers None for exit code 2 or output that is
                # not JSON; an empty databag is {}. Taken as empty, it would
                # let the leader drop every grant.
                raise Unreadable(f"the {self.place}", f"relation-get gave {settings!r}")
        self._loaded = settings
        grants = wire.parse_grants(settings.get(self.key), self.key, self.place)
        self._loaded_grants = grants
        self._garbled = leader and wire.garbled(settings.get(self.key), grants)
        return LeaderData(
            grants=wire.without_empty(grants),
            paused_since=settings.get(wire.PAUSED_KEY) or None,
            revoked=wire.parse_grants(
                settings.get(wire.REVOKED_KEY), wire.REVOKED_KEY, self.place
            ),
            granted_at=wire.parse_grants(settings.get(wire.SINCE_KEY), wire.SINCE_KEY, self.place),
            leader=settings.get(wire.LEADER_KEY),
            wake=settings.get(wire.WAKE_KEY) or None,
        )

    @property
    def stored_grants(self):
        """The grants as the leader-owned data holds them now."""
        return self._loaded_grants

    @property
    def writable(self):
        """Whether there is a place for leader-owned data (the peer relation exists)."""
        return self.relation_id is not None

    def changes(self, data):
        """The leader-owned settings that differ from ``data`` ("" deletes a key)."""
        grants = wire.without_empty(data.grants)
        since = wire.without_empty(
            {
                unit: {lock: t for lock, t in locks.items() if lock in grants.get(unit, {})}
                for unit, locks in data.granted_at.items()
            }
        )
        wanted = {
            self.key: wire.dump(grants),
            wire.SINCE_KEY: wire.dump(since) if since else "",
            wire.REVOKED_KEY: wire.dump(data.revoked) if data.revoked else "",
            wire.PAUSED_KEY: data.paused_since or "",
            wire.LEADER_KEY: data.leader,
            wire.WAKE_KEY: data.wake or "",
        }
        changes = {}
        for key, value in wanted.items():
            if key == self.key:
                if grants != self._loaded_grants or self._garbled:
                    changes[key] = value
            elif (self._loaded.get(key) or "") != value:
                changes[key] = value
        return changes

    def publish(self, data, confirm=True):
        """Write the leader-owned data that changed. False if this unit no longer leads.

        With ``confirm``, checks leadership (is-leader) first, only when
        there is something to write, and writes nothing when it has been
        lost: Juju would refuse the write, and the hook with it. (A unit
        that loses it after the write has its hook's whole commit refused;
        the hook fails and runs again.)
        """
        changes = self.changes(data)
        if changes:
            if not self.writable or (confirm and not hookenv.is_leader()):
                return False
            relation_set(self.relation_id, changes, app=True)
            self.wrote = True
            for key, value in changes.items():
                if value:
                    self._loaded[key] = value
                else:
                    self._loaded.pop(key, None)
            self._garbled = False
        self._loaded_grants = wire.without_empty(data.grants)
        return True

    # -- unit data --------------------------------------------------------------

    def members(self):
        """The peers this unit's agent lists in the relation (relation-list)."""
        return set(hookenv.related_units(self.relation_id))

    def read_unit(self, unit):
        """A unit's peer settings: a dict, or None if Juju has none for it.

        Raises :class:`Unreadable` if Juju refuses to read them.
        """
        try:
            data = hookenv.relation_get(None, unit, self.relation_id)
        except Exception as exc:  # noqa: BLE001 -- the hook tool's error is the answer
            raise Unreadable(unit, exc) from exc
        return data if isinstance(data, dict) else None

    def write_own(self, settings):
        """Set keys of this unit's peer settings (committed with the hook)."""
        relation_set(self.relation_id, settings)
        self.wrote = True


def legacy_grants(key=wire.KEY):
    """Grants an older layer left in leader settings: ``{unit: {lock: ts}}``, or {}.

    The original layer:coordinator (charmhelpers' protocol) and this layer's
    revisions up to issue 19 kept grants in leader settings under ``key``.
    Juju 4 has no leader settings (nor ``leader-get``): there, and whenever
    they cannot be read, there is nothing to import.
    """
    if juju_major() >= 4:
        return {}
    try:
        raw = hookenv.leader_get(key)
    except Exception as exc:  # noqa: BLE001 -- no tool, or Juju refused: nothing to import
        from .options import log

        log(f"leader settings not readable ({exc}); no older grants to import", "DEBUG")
        return {}
    if not raw:
        return {}
    return wire.parse_grants(raw, key, "leader settings")


def clear_legacy_grants(key=wire.KEY):
    """Delete the older layer's grants from leader settings (``leader-set KEY=``)."""
    hookenv.leader_set({key: None})


def set_legacy_grants(grants, key=wire.KEY):
    """Keep only ``grants`` of the older layer's in leader settings (``leader-set``)."""
    hookenv.leader_set({key: wire.dump(grants)})


def juju_major():
    """The major version of the Juju running this hook (``JUJU_VERSION``), 0 if unknown."""
    try:
        return int(os.environ.get("JUJU_VERSION", "").split(".")[0])
    except ValueError:
        return 0


def relation_set(relation_id, settings, app=False):
    """Write ``settings`` (key -> str, "" deletes) with ``relation-set [--app] -r ID --file F``.

    What charmhelpers' ``relation_set`` runs, without the ``relation-set
    --help`` call it makes once per hook to learn whether ``--file`` exists
    (since Juju 1.23.2 it always does).
    """
    argv = ["relation-set"] + (["--app"] if app else []) + ["-r", relation_id]
    fd, path = tempfile.mkstemp(prefix="coordinator-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(settings, f)
        subprocess.check_call(argv + ["--file", path])
    finally:
        os.unlink(path)
    # As charmhelpers does: drop its cached reads of this unit's settings. (Its
    # cached read of the application databag is keyed by the application's
    # name and stays; the layer reads the databag once per hook, before.)
    hookenv.flush(hookenv.local_unit())


class Unreadable(Exception):
    """Juju refused to read a unit's peer settings (e.g. it left between list and get).

    ``unit`` names whose data it is (a unit, or the application databag).
    """

    def __init__(self, unit, error):
        super().__init__(f"{error}")
        self.unit = unit
        self.error = error


class LeaderData:
    """The leader-owned data: grants, grant times, revocations, pause, leader name, waker."""

    __slots__ = (
        "grants",
        "granted_at",
        "revoked",
        "paused_since",
        "leader",
        "wake",
    )

    def __init__(self, grants, granted_at, revoked, paused_since, leader, wake=None):
        self.grants = grants
        self.granted_at = granted_at
        self.revoked = revoked
        self.paused_since = paused_since
        self.leader = leader
        self.wake = wake
