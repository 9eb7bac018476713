# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The decision core: which grants end and which requests are granted.

Pure: no hook tools, no unitdata, no clock of its own. The hook shell
(`charms.layer_coordinator.shell`) loads a :class:`Ledger` through the
transport, asks it to decide, and writes back what changed. Everything the
core needs from outside comes in as plain data or as a callable: the policy,
the clock, the logger, and the membership :class:`Evidence` (which the shell
reads lazily, because reading it costs hook-tool calls that most hooks never
need).

Glossary (the names in this package follow it):

request
    A unit's ask for a lock, ``requests[unit][lock] = ts``. ``ts`` is the
    unit's clock when it first asked; a unit's request times only move
    forward, so a newer ``ts`` is a new request.
grant
    The leader's answer, ``grants[unit][lock] = ts``: the request ``ts`` of
    ``unit`` may run its guarded work. A unit *holds* a lock while it has a
    grant of it; the units that do are the lock's *holders*.
waiting
    A request that is not granted (its unit's grant of the lock, if any,
    answers another request) and that no operator revoked. Waiting
    requests are granted in *grant order*: request time, then unit name
    (with ``order: leader-last``, the leader's own requests after everyone
    else's).
release record
    ``released[unit][lock] = ts``: the latest grant of ``lock`` that
    ``unit`` says it let go (``coordinator-released`` in its peer data).
end (of a grant)
    The leader removes a grant once its holder let go (a release record at
    least as new, or a newer request, or, read in the holder's own
    relation-changed hook, its request deleted: the original layer's
    release, if this leader had seen that request), an operator revoked it, or
    the holder left the application. Nothing else ends a grant: a holder whose
    data says nothing, or cannot be read, keeps it.
member
    A unit this unit's agent lists in the peer relation (relation-list).
stranger
    A holder that is not a member: it has left or is leaving, or this
    unit's agent has not run its relation-joined hook yet (a new unit; a
    new leader whose leader-elected runs first). The :class:`Evidence`
    decides whether it is still there.
pending (own grant)
    A grant the leader made to itself in this hook. Its guarded work waits
    for a later hook, once Juju has committed the grant with this hook (the
    leader-owned data commits with the hook, and a leader whose lease
    lapses before that commit has its whole commit refused): so a new
    leader always sees the grant of a leader that is in its guarded work.
    Only a leader alone in the application (``commit_first()`` False) uses
    its grant at once: no other unit can become leader while it works,
    unless its lease lapses mid-hook (beyond what Juju promises).
orphan
    A grant of this unit for a request its own records lack:
    ``orphans[lock] = ts`` (left by a hook that failed after the grant was
    published, as an older revision of this layer published the leader's
    own grant at once, or a request withdrawn meanwhile). An orphan stands
    until the end of the hook; asking again takes it over.
revoked
    ``revoked[unit][lock] = ts``: an operator ended that grant
    (coordinator-release). Kept until the unit's request ``ts`` is gone, so
    the same request is never granted again.
paused
    ``paused_since``: an operator stopped granting (coordinator-pause);
    grants end as usual, none are made.
seen
    ``ts in seen[unit][lock]``: a member's request this leader has seen in
    its data (in an earlier hook), or a grant it took over from an older
    layer. Only a seen request that is gone can be a release without a
    record: a unit on this layer never deletes one without writing a
    record in the same commit, and a grant whose request a holder never
    published (a leader's own, an orphan it takes over) was never seen.
unreadable
    A member whose peer data could not be read in this hook: its grants
    and revocations stay as they are.
"""

from collections import namedtuple

__all__ = ["Decision", "Evidence", "Ledger", "grant_stands"]

#: One decision of :meth:`Ledger.decide`: ``kind`` is "end" or "grant".
Decision = namedtuple("Decision", "kind unit lock ts why")


def grant_stands(requested, released, ts):
    """Whether a holder still holds the grant of its request ``ts``, judging by its data.

    ``requested`` is the request time its data shows for the lock (None: no
    request), ``released`` its release record for the lock ("" for none).
    The grant stands while the request is ``ts``. It ends when the holder
    says it let go, or asks again (a newer request). A holder without a
    request keeps it: this agent's copy of the holder's data may be older
    than the request (Juju refreshes it only in a relation-changed hook for
    that unit), or the grant comes from an older revision of this layer
    that published a leader's grant to itself at once, before its request
    committed; a new leader must not hand the lock on while the holder may
    be in its guarded work. An older request
    than ``ts`` is this agent's stale copy of the holder's data (Juju
    refreshes it only in a relation-changed hook for that unit), and proves
    nothing either.
    """
    if requested == ts:
        return True
    if released >= ts:
        return False
    return requested is None or requested < ts


class Evidence:
    """Whether a stranger is still a unit of the application; the shell subclasses it.

    The default knows nothing: no goal-state, no departures, no data.
    """

    def goal_units(self):
        """The application's unit names (goal-state), or None when unavailable."""
        return None

    def departed(self, unit):
        """True if this unit ran relation-departed for ``unit``."""
        return False

    def peer_data(self, unit):
        """A stranger's :class:`~charms.layer_coordinator.wire.PeerData`, or None if unreadable."""
        return None


class Ledger:
    """What this unit knows of the coordination in one hook, and the decisions on it.

    ``requests`` is a mapping ``{unit: {lock: ts}}`` that holds at least this
    unit's own requests (on the leader, every member's); the other fields
    are plain dicts as the glossary describes. ``log(message, level)`` and
    ``now()`` (a timestamp string) come from the shell.
    """

    def __init__(
        self,
        unit,
        leader,
        requests,
        grants,
        log,
        now,
        granted_at=None,
        revoked=None,
        paused_since=None,
        released=None,
        orphans=None,
        leader_last=False,
        has_relation=True,
        dying=False,
        unreadable=None,
        commit_first=None,
        fresh=None,
        seen=None,
    ):
        self.unit = unit
        self.leader = leader
        self.requests = requests
        self.grants = grants
        self.granted_at = {} if granted_at is None else granted_at
        self.revoked = {} if revoked is None else revoked
        self.paused_since = paused_since
        self.released = {} if released is None else released
        self.orphans = {} if orphans is None else orphans
        self.leader_last = leader_last
        # No peer relation yet, or this unit is being removed (the peers it
        # no longer lists are leaving *it*): strangers' grants stand.
        self.has_relation = has_relation
        self.dying = dying
        self.unreadable = set() if unreadable is None else unreadable
        # Members whose data was read in their own joined/changed hook (Juju
        # serves a peer's latest committed settings there) and is clean.
        self.fresh = set() if fresh is None else fresh
        # {unit: {lock: {ts}}}: requests this leader has seen in members' data
        # before this hook's reads (its view), or grants it took over.
        self.seen = {} if seen is None else seen
        self.new_locks = set()  # locks this unit first asked for in this hook
        self.pending = set()  # locks the leader granted itself in this hook (not committed)
        self.commit_first = (lambda: True) if commit_first is None else commit_first
        self.log = log
        self.now = now

    # -- queries --------------------------------------------------------------

    def own(self):
        """This unit's requests, ``{lock: ts}`` (the live dict: edits change them)."""
        return self.requests[self.unit]

    def granted(self, lock, unit=None):
        """True if ``unit`` (default: this unit) holds ``lock`` for its current request.

        The leader's grant to itself counts from the hook after the one that
        made it (see *pending* in the glossary).
        """
        unit = self.unit if unit is None else unit
        ts = self.requests[unit].get(lock)
        if unit == self.unit and lock in self.pending:
            return False
        return ts is not None and self.grants.get(unit, {}).get(lock) == ts

    def holders(self, lock):
        """The units holding ``lock``, sorted."""
        return sorted(unit for unit, locks in self.grants.items() if lock in locks)

    def is_revoked(self, unit, lock, ts):
        return self.revoked.get(unit, {}).get(lock) == ts

    def order_key(self, unit, ts):
        """Sort key of a request: with leader-last the leader's own sort after the rest."""
        last = self.leader_last and self.leader and unit == self.unit
        return (last, ts, unit)

    def waiting(self, lock=None):
        """The waiting requests as ``[(lock, unit)]`` in grant order; of ``lock`` if given."""
        pending = sorted(
            (self.order_key(unit, ts), name, unit)
            for unit, locks in self.requests.items()
            for name, ts in locks.items()
            if (lock is None or name == lock)
            and self.grants.get(unit, {}).get(name) != ts
            and not self.is_revoked(unit, name, ts)
        )
        return [(name, unit) for _, name, unit in pending]

    def queue(self, lock):
        """The units waiting for ``lock``, in grant order."""
        return [unit for _, unit in self.waiting(lock)]

    # -- decisions ------------------------------------------------------------

    def stands(self, unit, lock, ts, evidence):
        """Whether the grant of ``lock`` (request ``ts``) to ``unit`` still stands.

        This unit's own grant stands while its request is ``ts``, or while it
        is an unclaimed orphan. A member's stands by `grant_stands` on its
        data. A stranger's ends when goal-state no longer lists it (Juju
        reports a unit departed as soon as its removal begins, while it may
        still be in its guarded work, so a departed hook alone proves
        nothing), or when its data shows it let go; without goal-state
        (Juju < 2.4), this unit's own departed hook for it, or no readable
        data, counts as proof.
        """
        if unit == self.unit:
            return self.requests[unit].get(lock) == ts or self.orphans.get(lock) == ts
        if unit in self.requests:
            requested = self.requests[unit].get(lock)
            released = self.released.get(unit, {}).get(lock, "")
            if (
                requested is None
                and unit in self.fresh
                and released < ts
                and ts in self.seen.get(unit, {}).get(lock, ())
            ):
                self.log(
                    f"{unit} deleted its request for {lock!r} without a release record (an "
                    "older layer's release): its grant ends"
                )
                return False
            return grant_stands(requested, released, ts)
        if not self.has_relation or self.dying:
            return True
        present = evidence.goal_units()
        if present is None:
            if evidence.departed(unit):
                self.log(f"{unit} held {lock!r} and has left the relation")
                return False
        elif unit not in present:
            self.log(f"{unit} held {lock!r} and is no longer a unit of the application")
            return False
        data = evidence.peer_data(unit)
        if data is None:
            # Unreadable: keep the grant while goal-state says the unit
            # exists; without goal-state no settings at all means it left.
            return present is not None
        return grant_stands(data.requests.get(lock), data.released.get(lock, ""), ts)

    def defers_own(self, unit, lock):
        """True if the leader should not grant itself ``lock`` yet (order: leader-last).

        A request the leader made in this very hook waits for a later hook
        when the leader has peers: the peers' requests of the same moment
        (a config change reaches every unit at once) reach the leader only in
        their own relation-changed hooks, and must be seen first.
        """
        return (
            self.leader_last
            and unit == self.unit
            and lock in self.new_locks
            and any(u != self.unit for u in self.requests)
        )

    def grant(self, lock, unit, policy):
        """Grant ``lock`` to ``unit`` if the policy allows; True if ``unit`` is granted it.

        ``policy(lock, unit, holders, queue)`` is charmhelpers'
        ``default_grant`` signature: ``holders`` is the set of units holding
        ``lock``, ``queue`` the units waiting for it in grant order. A grant
        to this unit is *pending* (it counts, `granted`, from the next hook)
        unless ``commit_first()`` says the leader is alone.
        """
        if not self.leader:
            return False
        holders = {u for u, locks in self.grants.items() if lock in locks}
        if unit in holders:
            return True
        ts = self.requests.get(unit, {}).get(lock)
        if ts is None or self.paused_since or self.is_revoked(unit, lock, ts):
            return False
        if self.defers_own(unit, lock):
            return False
        # A holder whose grant answers an older request than this unit's
        # agent has seen is not waiting either.
        queue = [u for u in self.queue(lock) if u not in holders]
        if not policy(lock, unit, holders, queue):
            return False
        self.grants.setdefault(unit, {})[lock] = ts
        self.granted_at.setdefault(unit, {})[lock] = self.now()
        self.log(f"leader grants {lock!r} to {unit}")
        if unit == self.unit and self.commit_first():
            self.pending.add(lock)
            self.log(
                "its own grant: the guarded work starts in a later hook, once Juju has "
                "committed the grant",
                "DEBUG",
            )
        return True

    def decide(self, policy, evidence, on_end):
        """On the leader: end the grants that no longer stand, then grant in grant order.

        Calls ``on_end(unit, lock, ts)`` for each grant it ends, as it ends
        it. Returns the decisions made, in order.
        """
        decisions = []
        if not self.leader:
            return decisions
        for unit in sorted(self.grants):
            if unit in self.unreadable:
                continue  # unknown is not released: keep its grant
            locks = self.grants[unit]
            for lock in sorted(locks):
                ts = locks[lock]
                if not self.stands(unit, lock, ts, evidence):
                    why = "let go"
                elif self.is_revoked(unit, lock, ts):
                    why = "revoked"
                else:
                    continue
                del locks[lock]
                self.granted_at.get(unit, {}).pop(lock, None)
                on_end(unit, lock, ts)
                decisions.append(Decision("end", unit, lock, ts, why))
            if not locks:
                del self.grants[unit]
        self.forget_revocations()
        if self.paused_since:
            return decisions
        for lock, unit in self.waiting():
            if self.grant(lock, unit, policy):
                ts = self.requests[unit][lock]
                decisions.append(Decision("grant", unit, lock, ts, "policy"))
        return decisions

    def forget_revocations(self):
        """Drop revocations whose request is gone (kept for unreadable units).

        A member that shows no request for the lock and no release record
        of ``ts`` keeps its revocation too: a leader's request that its own
        grant stood for was never published, and its unit, deposed
        meanwhile, still has it until its next hook.
        """
        kept = {}
        for unit, locks in self.revoked.items():
            current = self.requests.get(unit, {})
            released = self.released.get(unit, {})
            still = {
                lock: ts
                for lock, ts in locks.items()
                if current.get(lock) == ts
                or unit in self.unreadable
                or (unit in self.requests and lock not in current and released.get(lock, "") < ts)
            }
            if still:
                kept[unit] = still
        self.revoked = kept
