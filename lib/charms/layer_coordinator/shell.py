# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The hook shell: load the state through the transport, let the core decide, save.

:class:`LayerCoordinator` is the coordinator object of one hook. At hook
start (:meth:`LayerCoordinator.start`) it reads what can have changed,
builds a :class:`~charms.layer_coordinator.core.Ledger` and, on the leader,
ends and makes grants; charm code then asks for and releases locks through
it; at hook end it releases this hook's grants, decides once more, and
writes only what changed. What it keeps between hooks in unitdata:

- the leader's view of its peers' requests and release records, so that a
  hook re-reads only the peers whose data can have changed;
- requests made while the peer relation cannot hold them;
- the locks acquired with ``hold=True``;
- the peers whose relation-departed hook this unit ran;
- its latest request time (requests only move forward).
"""

import os
import time

from charmhelpers.coordinator import BaseCoordinator
from charmhelpers.core import hookenv, unitdata

from . import wire
from .core import Ledger
from .membership import MembershipEvidence
from .options import LEVELS, load, log, parse_concurrency
from .own import OwnData, next_request_timestamp, record_departure
from .quiet import MEMO_KEY
from .quiet import forget as forget_quiet
from .quiet import remember as remember_quiet
from .quiet import valid as valid_quiet
from .status import WaitingStatus
from .transport import (
    LeaderData,
    PeerRelationTransport,
    Unreadable,
    clear_legacy_grants,
    legacy_grants,
    set_legacy_grants,
)
from .view import PeerView

__all__ = ["LayerCoordinator", "SimpleCoordinator"]

#: Seconds after an is-leader that said true in which the leader writes
#: without asking again: Juju promises leadership for 30 s after it.
LEADERSHIP_TRUSTED = 20.0


class LayerCoordinator(BaseCoordinator):
    """The layer's coordination protocol, on charmhelpers' data format.

    Policy subclasses customise ``default_grant(lock, unit, granted, queue)``,
    ``grant_<lock>(...)`` (same signature, for one lock name), ``released``
    and ``msg``, exactly as with ``charmhelpers.coordinator.BaseCoordinator``.
    The protocol differs from charmhelpers' in what it costs and in one
    behaviour:

    * A non-leader reads only its own data and the leader-owned data; it
      reads other units' data only if charm code asks for ``requests``.
    * The leader keeps its view of every peer's requests in unitdata and
      re-reads a peer only when that peer's data can have changed (its own
      relation hooks), or everything after it becomes leader, after
      upgrade-charm, or when a peer it has not read appears.
    * Nothing is written when nothing changed.
    * Requests are granted in request order (timestamp, then unit name).
    * When the leader releases its own lock, it grants the lock to the next
      waiting unit in the same hook.
    * The leader-owned data lives in the peer relation's application
      databag (Juju 4 has no leader settings), and the leader's grant to
      itself counts from its next hook, once Juju has committed it (unless
      the leader is alone in its application).

    Do not instantiate it in a charm: use ``charms.coordinator.coordinator``.
    """

    def __init__(self, relation_key=wire.KEY, peer_relation_name=wire.RELATION_NAME):
        # Unlike BaseCoordinator, register no atstart callbacks here: the
        # layer starts the coordinator itself (see start()), so the order of
        # loading, granting and flag updates does not depend on import order.
        self.key = relation_key
        self.relname = peer_relation_name
        self._relid = None
        self._leader_unit = None  # the leader's name as the leader-owned data says
        self._ledger = None  # built by initialize()
        self._transport = None
        self._started = False
        self._loading = False  # inside initialize(): no start on first use
        self._unit = None
        self._leader = False
        self._is_leader = False  # is-leader's answer in this hook
        self._readable = True  # the leader-owned data could be read in this hook
        self._held = set()  # locks acquired with hold=True, kept until release()
        self._loaded_held = set()
        self._own = None  # OwnData: this unit's requests as loaded
        self._evidence = None
        self._status = None  # WaitingStatus when the option is on
        self._concurrency = None
        self._peers = None  # PeerView: the peers' data read in this hook
        self._leader_since = None  # wall time of this hook's is-leader call
        self._wake = None  # the leader-owned "coordinator-wake" value
        self._awake = None  # the wake this unit answers in this hook, if asked
        self._let_go = {}  # revoked requests dropped in this hook: {lock: ts}

    # -- state (BaseCoordinator's attributes) -------------------------------

    @property
    def requests(self):
        """``{unit: {lock: timestamp}}`` for every unit, loaded when first asked."""
        self._ready()
        return self._ledger.requests if self._ledger is not None else None

    @requests.setter
    def requests(self, value):
        self._ledger.requests = value

    @property
    def grants(self):
        """``{unit: {lock: timestamp}}``: the grants as this unit knows them."""
        self._ready()
        return self._ledger.grants if self._ledger is not None else None

    @grants.setter
    def grants(self, value):
        self._ledger.grants = value

    @property
    def granted_at(self):
        self._ready()
        return self._ledger.granted_at

    @property
    def revoked(self):
        self._ready()
        return self._ledger.revoked

    @property
    def paused_since(self):
        """When an operator paused granting (a timestamp), or None."""
        self._ready()
        return self._ledger.paused_since

    @property
    def unit(self):
        """This unit's name."""
        self._ready()
        return self._unit

    @property
    def is_leader(self):
        """True while this unit is the leader, as it knows in this hook."""
        self._ready()
        return self._leader

    @property
    def relid(self):
        """The peer relation's id, or None before it exists."""
        self._ready()
        return self._relid

    @relid.setter
    def relid(self, value):
        self._relid = value

    @property
    def leader_unit(self):
        """The leader's name as the leader-owned data says (this unit's on the leader)."""
        self._ready()
        return self._leader_unit

    @leader_unit.setter
    def leader_unit(self, value):
        self._leader_unit = value

    @property
    def started(self):
        """Whether this hook's coordinator has loaded its state (it does on first use)."""
        return self._ledger is not None

    def _ready(self):
        """Start on first use: in a quiet hook (see quiet.py) only charm code starts it.

        Not while loading, and not once loaded: the operator actions load
        the state with ``initialize()`` alone, and decide only when asked.
        """
        if self._ledger is None and not self._loading:
            self.start()

    # -- hook start -----------------------------------------------------------

    def start(self):
        """Load state and, on the leader, grant what can be granted.

        Runs once per hook, at hook start (or on first use when the module is
        imported late). Registers the end-of-hook callback.
        """
        if self._started:
            return
        self._started = True
        self.initialize()
        self.handle()

    def initialize(self):
        """Load grants, this unit's requests and, on the leader, its peer view."""
        if self._ledger is not None or self._loading:
            return
        self._loading = True
        try:
            self._initialize()
        finally:
            self._loading = False

    def _initialize(self):
        options = load()
        self._unit = hookenv.local_unit()
        self._leader = self._is_leader = bool(hookenv.is_leader())
        self._leader_since = time.time()
        # A unit being removed departs from each peer in turn and then stops:
        # the peers it no longer lists are leaving *it*, not the model.
        departing = os.environ.get("JUJU_DEPARTING_UNIT")
        dying = departing == self._unit or hookenv.hook_name() == "stop"
        if departing and not dying:
            record_departure(departing)
        self._transport = PeerRelationTransport(self.relname, self.key)
        self._relid = self._transport.relation_id
        if self._leader and not self._transport.writable:
            # Nowhere to keep grants yet: requests wait for the relation.
            log("no peer relation yet; the leader grants once it exists", "DEBUG")
            self._leader = False
        self._peers = PeerView(self._transport, self._unit, self.key)
        self._load(options, dying)
        for lock in sorted(self._ledger.own()):
            state = "holds" if self._ledger.granted(lock) else "waits for"
            log(f"{self._unit} {state} {lock!r}", "DEBUG")
        if options.waiting_status:
            self._status = WaitingStatus()
        hookenv.atexit(self._end_of_hook)

    def _load(self, options, dying):
        held = unitdata.kv().get(wire.HELD_KEY) or []
        self._held = {lock for lock in held if isinstance(lock, str)}
        self._loaded_held = set(self._held)
        try:
            data = self._transport.read_leader_data(self._leader)
        except Unreadable as exc:
            log(
                f"cannot read the {self._transport.place} ({exc.error}); this hook neither "
                "grants nor uses a grant, and the next one reads it again",
                "WARNING",
            )
            self._leader = False
            self._readable = False
            data = LeaderData({}, {}, {}, None, None)
        self._leader_unit = self._unit if self._leader else data.leader
        wake = wire.parse_wake(data.wake, self._transport.place)
        self._wake = data.wake if wake is not None else None  # garbage: the leader drops it
        if wake is not None and wake[0] == self._unit:
            self._awake = wake[1]  # a leader too: the one who named it may have lost the lease
        in_relation = self._relid is not None and os.environ.get("JUJU_RELATION_ID") == self._relid
        self._own = OwnData.load(
            self._transport,
            self._unit,
            self.key,
            use_copy=in_relation,
            grants=self._transport.stored_grants.get(self._unit, {}),
        )
        own = self._own.requests
        revoked = data.revoked.get(self._unit, {})
        for lock, ts in sorted(own.items()):
            if revoked.get(lock) == ts:
                del own[lock]
                self._let_go[lock] = ts  # a release record lets the leader forget it
                self._held.discard(lock)
                log(
                    f"an operator revoked {self._unit}'s {lock!r} "
                    "(coordinator-release); it asks again if it still needs the lock",
                    "WARNING",
                )
        orphans = self._orphans(data, own)
        self._evidence = MembershipEvidence(self._transport, self._unit, self.key)
        requests = self._peers.requests(own, self._leader, new_term=data.leader != self._unit)
        self._ledger = Ledger(
            unit=self._unit,
            leader=self._leader,
            requests=requests,
            grants=data.grants,
            log=log,
            now=wire.timestamp,
            granted_at=data.granted_at,
            revoked=data.revoked,
            paused_since=data.paused_since,
            released=self._peers.released,
            orphans=orphans,
            leader_last=options.leader_last,
            has_relation=self._relid is not None,
            dying=dying,
            unreadable=self._peers.unreadable,
            commit_first=self._commit_first,
            fresh=self._peers.fresh,
            seen=self._peers.seen,
        )
        if self._leader and (self._peers.read_everyone or unitdata.kv().get(wire.LEGACY_KEY)):
            self._import_legacy_grants()

    def _import_legacy_grants(self):
        """Take over the grants an older layer's leader left in leader settings.

        Runs when this leader reads every peer (its first hook as leader on
        this layer: leader-elected, upgrade-charm, a failed hook retried on
        the new code, a missing view), and in its next hooks until they are
        settled. A grant is taken over unless its holder's data shows it let
        go (a newer request or a release record): a holder's copy here may
        predate its request, so a request not shown is no release yet. Each
        is marked seen: once the holder's own relation-changed hook shows the
        request gone (the original layer's release), the grant ends. When
        every one is settled (committed in the databag, let go, or taken
        over once and gone since), leader settings are cleared, once:
        ``leader-set`` takes effect at once, so only after the commit.
        """
        ledger = self._ledger
        kv = unitdata.kv()
        legacy = legacy_grants(self.key)
        stored = kv.get(wire.LEGACY_KEY)
        stored = stored.get("taken") if isinstance(stored, dict) else None
        # What an earlier term took over proves nothing now (its commit may
        # have been refused): start again when reading every peer.
        taken = (
            {}
            if self._peers.read_everyone
            else wire.parse_grants(stored, wire.LEGACY_KEY, "unitdata")
        )
        committed = self._transport.stored_grants
        settled = True
        remaining = {}  # the grants not settled yet: what leader settings keep
        for unit, locks in sorted(legacy.items()):
            if unit == self._unit:
                requests, released = ledger.own(), self._own.released
            elif unit in ledger.requests:
                requests, released = ledger.requests[unit], ledger.released.get(unit, {})
            else:
                data = self._evidence.peer_data(unit)
                requests = data.requests if data is not None else {}
                released = data.released if data is not None else {}
            for lock, ts in sorted(locks.items()):
                if requests.get(lock, "") > ts or released.get(lock, "") >= ts:
                    continue  # let go
                in_databag = committed.get(unit, {}).get(lock) == ts
                if in_databag and requests.get(lock) != ts:
                    # Committed, and the holder shows the request no more: a holder
                    # on the original reads only leader settings, so they stay
                    # until it let go.
                    continue
                if not in_databag and taken.get(unit, {}).get(lock) == ts:
                    continue  # taken over, and ended since
                settled = False
                remaining.setdefault(unit, {})[lock] = ts
                if ledger.grants.get(unit, {}).get(lock) == ts:
                    continue
                ledger.grants.setdefault(unit, {})[lock] = ts
                ledger.granted_at.setdefault(unit, {})[lock] = wire.timestamp()
                ledger.seen.setdefault(unit, {}).setdefault(lock, set()).add(ts)
                taken.setdefault(unit, {})[lock] = ts
                if unit == self._unit and self._commit_first():
                    ledger.pending.add(lock)  # as any grant to itself
                log(f"leader takes over {unit}'s grant of {lock!r} from leader settings")
        if not settled:
            kv.set(wire.LEGACY_KEY, {"taken": taken})
            if remaining != wire.without_empty(legacy):
                # Settled ones leave leader settings (a later leader has no
                # `taken` of this one's and would take them over again).
                set_legacy_grants(remaining, self.key)
            return
        if any(legacy.values()):
            clear_legacy_grants(self.key)
            log("the older layer's grants in leader settings are settled; cleared")
        kv.unset(wire.LEGACY_KEY)

    def _orphans(self, data, own):
        """Grants of this unit for requests its records lack (see the core's glossary).

        A grant this unit has said it released, or an operator revoked, is
        no orphan. One still unclaimed when the hook ends is let go.
        """
        mine = self._transport.stored_grants.get(self._unit, {})
        revoked = data.revoked.get(self._unit, {})
        marker = self._own.released
        orphans = {
            lock: ts
            for lock, ts in mine.items()
            if lock not in own and marker.get(lock, "") < ts and revoked.get(lock) != ts
        }
        for lock in sorted(orphans):
            log(
                f"{self._unit} holds {lock!r} for a request it has no record of (made in "
                "a failed hook, or withdrawn); asking again in this hook takes the grant over",
                "DEBUG",
            )
        return orphans

    # -- queries ----------------------------------------------------------------

    def granted(self, lock):
        """Return True if this unit's request for ``lock`` has been granted."""
        self._ready()
        return self._ledger.granted(lock)

    def requested(self, lock):
        """Return True if this unit has an outstanding request for ``lock``."""
        self._ready()
        return lock in self._ledger.own()

    def request_timestamp(self, lock):
        """Return the UTC time (naive datetime) of this unit's request for ``lock``, or None."""
        self._ready()
        ts = self._ledger.own().get(lock)
        return wire.parse_timestamp(ts) if ts is not None else None

    def queue(self, lock):
        """Return the units waiting for ``lock`` (not yet granted), in grant order."""
        self._ready()
        return self._ledger.queue(lock)

    def holders(self, lock):
        """Return the units currently granted ``lock``, sorted."""
        self._ready()
        return self._ledger.holders(lock)

    def held(self, lock):
        """Return True if ``lock`` was acquired with ``hold=True`` and not released."""
        self._ready()
        return lock in self._held

    def concurrency(self):
        """Return how many units may hold locks at once under the default policy.

        From the ``concurrency`` layer option (a count, or a percentage of
        the application's units such as ``"25%"``: rounded down, at least 1),
        or, when ``concurrency_config`` names a charm config option, from
        that option's current value (an invalid value counts as 1, with a
        WARNING).
        """
        self._ready()
        if self._concurrency is None:
            options = load()
            if options.concurrency_config:
                value = hookenv.config().get(options.concurrency_config)
                source = f"config option {options.concurrency_config!r}"
            else:
                value, source = options.concurrency, None
            self._concurrency = parse_concurrency(value, len(self._ledger.requests), source)
        return self._concurrency

    # -- requesting -------------------------------------------------------------

    def acquire(self, lock, hold=False):
        """Request ``lock``; return True if this unit holds it now.

        A repeated request keeps its original timestamp, and so its place in
        the queue. The leader grants its own request when the policy allows,
        but like every grant it counts from the unit's next hook, once Juju
        has committed it (so a leader elected meanwhile knows of it); only a
        leader alone in its application uses it at once. The
        grant lasts until the end of the hook that uses it, or with
        ``hold=True`` until ``release(lock)``.
        """
        self._ready()
        ledger = self._ledger
        own = ledger.own()
        if lock not in own:
            held = " (held until released)" if hold else ""
            if lock in ledger.orphans and self._leader:
                # Only the leader takes an orphan over: on another unit the leader
                # may be ending that grant at this moment (its holder showed no
                # request), so that unit asks afresh and lets the orphan go.
                own[lock] = ledger.orphans.pop(lock)
                log(f"{self._unit} requests {lock!r} again and keeps its grant{held}")
            else:
                own[lock] = next_request_timestamp()
                ledger.new_locks.add(lock)
                log(f"{self._unit} requests {lock!r}{held}")
        if hold:
            self._held.add(lock)
        if ledger.granted(lock):
            return True
        if self._leader:
            self.grant(lock, self._unit)  # pending: its work starts in the next hook
        return ledger.granted(lock)

    def release(self, lock):
        """Give up ``lock``: release it if held, or withdraw the request.

        Returns True if there was a request or grant to give up.
        """
        self._ready()
        self._held.discard(lock)
        ledger = self._ledger
        own = ledger.own()
        if lock not in own:
            if ledger.orphans.pop(lock, None) is None:
                return False
            log(f"{self._unit} releases {lock!r} (granted for a request it had no record of)")
            self.handle()
            return True
        was_granted = ledger.granted(lock)
        ts = own.pop(lock)
        if not was_granted:
            # A grant may be on its way: say this request is let go, so that the
            # leader ends it and a later hook does not take it over as an orphan.
            self._let_go[lock] = ts
        log(f"{self._unit} {'releases' if was_granted else 'withdraws its request for'} {lock!r}")
        if was_granted:
            self.handle()  # on the leader, the next unit may have it now
        return True

    # -- granting (leader only) -------------------------------------------------

    def handle(self):
        """On the leader, end the grants that no longer stand and grant waiting requests."""
        self._ready()
        self._ledger.decide(self._policy, self._evidence, self._on_end)

    def grant(self, lock, unit):
        """Grant ``lock`` to ``unit`` if the policy allows; return True if granted.

        The policy is ``grant_<lock>`` when the class defines it, else
        ``default_grant``; both are called as ``(lock, unit, granted, queue)``
        where ``granted`` is the set of other units holding ``lock`` and
        ``queue`` lists the units waiting for it in request order.
        """
        self._ready()
        return self._ledger.grant(lock, unit, self._policy)

    def _policy(self, lock, unit, holders, queue):
        policy = getattr(self, f"grant_{lock}", self.default_grant)
        return policy(lock, unit, holders, queue)

    def _commit_first(self):
        """Whether the leader's own grant must commit before its work (see core: pending).

        Not when it lists no peer and goal-state names no other unit that is
        not dying (or goal-state is unavailable: Juju < 2.4, a subordinate):
        then no other unit can become leader while it works, unless its
        lease lapses mid-hook. A leader that lists no peers while goal-state
        names others waits for its next hook (their relation-joined hooks,
        as they come up; at worst its update-status).
        """
        if self._transport.members():
            return True
        units = self._evidence.goal_units()
        if units is None:
            return False
        return any(u != self._unit for u in units - self._evidence.goal_dying())

    def _on_end(self, unit, lock, ts):
        self.released(unit, lock, wire.parse_timestamp(ts))

    def default_grant(self, lock, unit, granted, queue):
        """Grant ``lock`` to the first unit in the queue when nobody holds it."""
        return unit == queue[0] and not granted

    def released(self, unit, lock, timestamp):
        """Called on the leader when ``unit`` has released ``lock``.

        ``timestamp`` is the naive UTC time of the granted request. Override
        for housekeeping; the default logs how long the lock was held.
        """
        held = wire.utcnow() - timestamp
        log(f"{unit} released {lock!r} (requested {held} ago)")

    def msg(self, msg, level="INFO"):
        """Log a message from policy code through the layer's logger (INFO by default).

        ``level`` is a Juju log level name (``hookenv.DEBUG``, ``"WARNING"``, ...);
        the ``log_level`` layer option filters it like the layer's own messages.
        """
        level = str(level).upper()
        if level == "TRACE":
            level = "DEBUG"
        log(msg, level if level in LEVELS else "INFO")

    # -- operator controls (leader only; see charms.layer_coordinator.actions) --

    def pause_granting(self):
        """Stop granting; held grants stay. Returns False if already paused."""
        self._ready()
        if self._ledger.paused_since:
            return False
        self._ledger.paused_since = wire.timestamp()
        log(f"granting paused by an operator at {self._ledger.paused_since}", "WARNING")
        self.save()
        return True

    def resume_granting(self):
        """Grant again, at once where possible. Returns False if not paused."""
        self._ready()
        if not self._ledger.paused_since:
            return False
        self._ledger.paused_since = None
        log("granting resumed by an operator", "WARNING")
        self.handle()
        self.save()
        return True

    def revoke(self, unit, locks):
        """End ``unit``'s grants of ``locks`` and grant the next waiting units."""
        self._ready()
        held = self._ledger.grants.get(unit, {})
        for name in locks:
            self._ledger.revoked.setdefault(unit, {})[name] = held[name]
            log(f"operator revoked {unit}'s {name!r}", "WARNING")
        # A unit still on an older layer reads its grant only in leader settings.
        legacy = legacy_grants(self.key)
        kept = {
            u: {lock: ts for lock, ts in grants.items() if u != unit or lock not in locks}
            for u, grants in legacy.items()
        }
        if wire.without_empty(kept) != wire.without_empty(legacy):
            set_legacy_grants(wire.without_empty(kept), self.key)
        self.handle()
        self.save()

    # -- hook end ---------------------------------------------------------------

    def _end_of_hook(self):
        """Release this hook's grants, re-grant on the leader, publish changes."""
        ledger = self._ledger
        ledger.orphans.clear()  # unclaimed in this hook: let go
        own = ledger.own()
        for lock in sorted(own):
            if ledger.granted(lock) and lock not in self._held:
                del own[lock]
                log(f"{self._unit} releases {lock!r}")
        self.handle()  # the leader passes what it released to the next unit
        self.save()
        if self._status is not None:
            self._status.show(self._unit, own, ledger.granted, ledger.queue)

    def save(self):
        """Write what changed in this hook: leader-owned data, unit data, unitdata."""
        ledger = self._ledger
        own = ledger.own()
        self._held &= set(own)
        if self._held != self._loaded_held:
            unitdata.kv().set(wire.HELD_KEY, sorted(self._held))
        withheld = ()
        if self._leader:
            self._name_waker()
            # Juju promises leadership for 30 s after is-leader said true: ask
            # again only later than that (or if the clock stepped back). Not
            # asking is safe: Juju checks leadership when relation-set --app
            # runs and again at commit; a unit that lost it has its hook fail
            # (and retried) instead of a WARNING.
            elapsed = time.time() - self._leader_since
            confirm = not 0 <= elapsed < LEADERSHIP_TRUSTED
            if self._transport.publish(self._leader_data(), confirm=confirm):
                withheld = self._withheld(own)
            else:
                log(
                    "leadership lost during the hook; the new leader will decide grants", "WARNING"
                )
            self._peers.save(ledger.requests, ledger.grants)
        else:
            PeerView.forget()
        self._own.save(
            self._transport,
            own,
            _later(self._transport.stored_grants.get(self._unit, {}), self._let_go),
            awake=self._awake,
            withheld=withheld,
        )
        if self._idle(own):
            remember_quiet()
        else:
            forget_quiet()

    def _idle(self, own):
        """Whether the next hook may be quiet (see quiet.py): this unit is idle.

        Idle: not the leader (as is-leader said in this hook), nothing
        requested (a lock held is requested) or kept to publish, no grant or revocation
        of this unit's in the leader-owned data (read in this hook), not
        named to wake the leader, no waiting status shown, and nothing
        written in this hook: Juju commits relation data after the hook
        exits, so a hook killed after unitdata was written could leave the
        memo without its writes.
        """
        kv = unitdata.kv()
        memo = kv.get(MEMO_KEY)
        if memo is not None and not valid_quiet(memo):
            log(f"unitdata {MEMO_KEY!r} not valid now ({memo!r}); rewritten or dropped", "DEBUG")
        unit = self._unit
        # Implied, so not checked again: a lock held is requested (own); a
        # stored grant without a request, a revocation let go and a wake
        # answered all write this unit's settings (wrote), unless already there.
        return not (
            self._is_leader
            or own
            or not self._readable
            or not self._own.on_relation
            or kv.get(wire.LOCAL_KEY)
            or self._transport.wrote
            or self._ledger.grants.get(unit)
            or self._ledger.revoked.get(unit)
            or kv.get(wire.STATUS_KEY)
        )

    def _withheld(self, own):
        """The leader's requests that its own grant, just published, stands for.

        Not published in its unit settings: every peer would run a hook for
        a request only the leader decides on, and again when it is deleted.
        The grant in the application databag shows the lock held; unitdata
        keeps the request (see OwnData.save). A request already published
        stays published until released.
        """
        mine = self._ledger.grants.get(self._unit, {})
        loaded = self._own.loaded
        return {
            lock for lock, ts in own.items() if mine.get(lock) == ts and loaded.get(lock) != ts
        }

    def _name_waker(self):
        """Ask a peer to wake the leader once its own grants have committed.

        Juju runs no relation-changed on the leader for its own change of
        the application databag (Juju 3.6's resolver skips it; some releases
        ran it): so the leader names a peer in ``coordinator-wake``; that
        peer answers in its own settings (``coordinator-awake``), which runs
        relation-changed on the leader, where its guarded work starts. It
        costs one relation-changed on each other unit, once per grant the
        leader makes itself.
        """
        ledger = self._ledger
        mine = ledger.grants.get(self._unit, {})
        pending = [lock for lock in ledger.pending if lock in mine]
        if not pending:
            return
        members = self._transport.members()
        if not members:
            log(
                "no peer listed to wake the leader: its own guarded work starts in its next "
                "hook (peers joining, or update-status)"
            )
            return
        waker = self._waker(members)
        times = ledger.granted_at.get(self._unit, {})
        token = max(times.get(lock, "") for lock in pending) or wire.timestamp()
        self._wake = f"{waker} {token}"
        log(f"{waker} is asked to wake the leader once its grant has committed", "DEBUG")

    def _waker(self, members):
        """The peer most likely to answer at once.

        The remote unit of this hook, when it is a member (it has just
        committed a write, so its agent runs); else the first member that
        holds no grant (a holder may be in long guarded work); else the
        first member. Should it not answer, the leader's own work waits for
        its next hook, at worst its update-status.
        """
        remote = hookenv.remote_unit()
        if remote in members and hookenv.relation_id() == self._transport.relation_id:
            return remote
        idle = sorted(u for u in members if not self._ledger.grants.get(u))
        return idle[0] if idle else sorted(members)[0]

    def _leader_data(self):
        ledger = self._ledger
        return LeaderData(
            grants=ledger.grants,
            granted_at=ledger.granted_at,
            revoked=ledger.revoked,
            paused_since=ledger.paused_since,
            leader=self._unit,
            wake=self._wake,
        )


class SimpleCoordinator(LayerCoordinator):
    """The default policy: N units at a time hold locks, whatever their names.

    N is ``concurrency()``: 1 unless the ``concurrency`` option says more.
    A unit holding any grant is granted every other lock it asks for;
    otherwise ``lock`` goes to the first unit in its queue, and only while
    fewer than N units hold anything.
    """

    def default_grant(self, lock, unit, granted, queue):
        holders = {u for u, locks in self.grants.items() if locks}
        if unit in holders:
            return True
        return len(holders) < self.concurrency() and unit == queue[0]


def _later(grants, let_go):
    """``grants``, each lock's timestamp the later of the two: the release records to cover."""
    merged = dict(grants)
    for lock, ts in let_go.items():
        if merged.get(lock, "") < ts:
            merged[lock] = ts
    return merged
