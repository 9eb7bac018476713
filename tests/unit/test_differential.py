"""Differential test: the layer's protocol grants in the same order as charmhelpers' own.

Issue 4: "a differential test shows the optimised and unoptimised coordinators
grant in the same order on the same schedules". Side A runs the layer's
protocol, which reads only what can have changed; side B runs the original
layer:coordinator's protocol, which is charmhelpers' BaseCoordinator protocol
unmodified and reads every unit in every hook: the test-only stand-in
``tests/layers/coordinator-original`` (its ``charms.coordinator`` and reactive
module, loaded in place of the layer's for B's hooks). Both use
``charmhelpers.coordinator.Serial``'s policy; or A uses the layer's default
``SimpleCoordinator`` on one lock, where the two policies agree, against B
on Serial or on the original layer's default ``SimpleCoordinator``. That one
also grants at the end of every hook, so there the orders must be the same
without the hand-over exception below.

A seeded driver runs the two FakeModels in lockstep, both with Juju's cache
of peer settings (``peer_cache=True``, see FakeModel): one
``random.Random(seed)`` picks each step, and the chosen hook runs on A, then
on B.

* Due hooks are level-triggered and coalesced, as the unit agent keeps them:
  a change to a unit's committed relation settings makes
  ``coordinator-relation-changed`` (remote = that unit) due on every other
  unit. A change to the leader-owned data makes a *shared* hook due: on A
  (the application databag) ``coordinator-relation-changed`` without a
  remote unit on every unit, the leader included; on B (leader settings)
  ``leader-settings-changed`` on every non-leader. What is due is the union
  of both sides' due hooks: a hook due on one side only runs on both (on the
  other side it reads nothing new, like update-status). A unit runs its
  shared hook before the relation hooks for its peers.
* A request step (2 to 5 per schedule, in a trickle or a burst) makes a unit
  with no outstanding want for a lock (on either side) run
  ``config-changed``, whose handler calls ``acquire(lock)``. It runs at once,
  even on a unit with leader-settings-changed due: every hook reads leader
  settings afresh, so that only changes which hook sees them first.
* Now and then, and whenever nothing is due but wants remain, a unit with
  nothing due runs ``update-status`` (Juju's periodic hook).
* Every hook's handler is the guarded work: a unit that sees
  ``coordinator.granted.<lock>`` for a lock it wants records a grant event
  and drops the want.

Asserted on every schedule, for each side:

* safety: no lock has two holders, in the leader-owned data after any hook or in
  the grants any hook loaded;
* every grant goes to the oldest request the leader has read (request order
  is the order of the acquire() calls). Granting in the order of *all*
  requests is out of reach for both protocols: the leader cannot see a
  request before its relation-changed hook
  (``test_leader_can_only_grant_in_order_among_the_requests_it_has_read``);
* liveness: the run ends with nothing due and every want granted;
* the same order: per lock, A's and B's sequences of grant events are
  identical, or they first differ at a lock A's leader released and handed
  to the next unit it knew of in the same hook (a documented behaviour of
  the layer), while B's leader passed it on only in a later hook, after it
  had read an older request, which it granted instead
  (``test_same_hook_hand_over_can_change_the_order``).
"""

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
import types
from pathlib import Path
from unittest import mock

import pytest
from charmhelpers.coordinator import Serial
from charmhelpers.core import hookenv

from conftest import RELATION_ID, ROOT, FakeModel, Hook, unit_flags

SERIAL = "charmhelpers.coordinator.Serial"
LAYER_SERIAL = {"class": SERIAL}
LAYER_SIMPLE = {}  # the layer's default class, SimpleCoordinator
ORIGINAL_SERIAL = {"class": SERIAL}  # side B: the original layer with Serial's policy
ORIGINAL_SIMPLE = {}  # side B: the original layer's default class, its SimpleCoordinator
TWO_LOCKS = ("restart", "backup")

ORIGINAL_LAYER = ROOT / "tests" / "layers" / "coordinator-original"

GRANTED = "coordinator.granted.{}"
LSC = "leader-settings-changed"
SHARED = "leader-owned data changed"  # LSC on side B, CHANGED without a remote on A
CHANGED = "coordinator-relation-changed"
MAX_STEPS = 1000
P_IDLE = 0.05  # chance that a step is update-status on a unit with nothing due


class _OriginalLibrary(importlib.abc.MetaPathFinder):
    """Finds ``charms.coordinator`` in the original-protocol stand-in's lib/."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "charms.coordinator":
            return None
        source = ORIGINAL_LAYER / "lib" / "charms" / "coordinator.py"
        return importlib.util.spec_from_file_location(fullname, source)


class OriginalLayerHook(Hook):
    """A hook of a charm built on the stand-in for the original layer:coordinator.

    The harness's hook with the stand-in's ``charms.coordinator`` and reactive
    module in place of the layer's: every ``import charms.coordinator`` while
    the hook runs finds the stand-in (the harness drops the module from
    ``sys.modules`` at the start of every hook, as a new process would).
    """

    _finder = _OriginalLibrary()

    def __enter__(self):
        sys.meta_path.insert(0, self._finder)
        harness = sys.modules[Hook.__module__]
        reactive = ORIGINAL_LAYER / "reactive" / "coordinator.py"
        try:
            with mock.patch.object(harness, "REACTIVE_MODULE", reactive):
                return super().__enter__()
        except BaseException:
            sys.meta_path.remove(self._finder)
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            return super().__exit__(exc_type, exc, tb)
        finally:
            sys.meta_path.remove(self._finder)


class OriginalLayerModel(FakeModel):
    """A FakeModel whose units run the original-protocol stand-in layer.

    It keeps its grants in leader settings (Juju 3.6).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.leader_settings_tools = True

    def grants(self):
        raw = self.leader_settings.get("coordinator")
        return json.loads(raw) if raw else {}

    def hook(self, unit, name="update-status", remote=None, departing=None):
        return OriginalLayerHook(self, unit, name, remote, departing=departing)


class Want:
    """A unit's request for a lock, from its acquire() call to its guarded work."""

    def __init__(self, number, unit, lock, ts):
        self.number = number  # request order: the schedule's acquire() calls, from 1
        self.unit = unit
        self.lock = lock
        self.ts = ts  # the request's timestamp on this side

    def __repr__(self):
        return f"#{self.number} {self.unit}"


class Decision:
    """The leader granting a want."""

    def __init__(self, want, step, hand_over, waiting):
        self.want = want
        self.step = step
        self.hand_over = hand_over  # in the leader's hook that released the same lock
        self.waiting = waiting  # other wants for the lock, not yet granted


class Side:
    """One FakeModel under the schedule: the hooks due on it and what it granted."""

    def __init__(self, label, model):
        self.label = label
        self.model = model
        self.changed = {unit: set() for unit in model.units}  # remotes with relation-changed due
        self.leader_changed = set()  # units with leader-settings-changed due
        self.wants = {}  # (unit, lock) -> Want
        self.decided = set()  # numbers of the wants the leader has granted
        self.work = {}  # lock -> [Want] in the order their guarded work ran
        self.decisions = {}  # lock -> [Decision] in order

    def knows(self, want):
        """True if the leader has read ``want``'s request: its own, or a cached peer's."""
        m = self.model
        if want.unit == m.leader:
            return True
        cached = m.cache.get(m.leader, {}).get(want.unit, {})
        return json.loads(cached.get("coordinator") or "{}").get(want.lock) == want.ts

    def order(self, lock):
        return [(w.unit, w.number) for w in self.work.get(lock, [])]

    def run(self, step, unit, name, remote=None, request=None):
        """Run one hook, check it, record its grants and what it makes due."""
        m = self.model
        where = f"side {self.label}, step {step}, {unit} {name}" + (
            f" ({remote})" if remote else ""
        )
        if name == SHARED:
            self.leader_changed.discard(unit)
            name = LSC if isinstance(m, OriginalLayerModel) else CHANGED
        elif remote is not None:
            self.changed[unit].discard(remote)
        own_before = dict(m.settings[unit])
        leader_before = dict(shared_data(m))

        hook = m.run(unit, name, handler=charm_code(request and request[1]), remote=remote)
        own, grants_loaded = hook.result
        if request is not None:
            number, lock = request
            self.wants[(unit, lock)] = Want(number, unit, lock, own[lock])
        grants_after = m.grants()
        for grants in (grants_loaded, grants_after):
            for lock, units in holders_by_lock(grants).items():
                assert len(units) == 1, f"{where}: {units} all hold {lock!r}"

        flags = {f for f in hook.flags_in_handler if f.startswith(GRANTED.format(""))}
        worked = [w for (u, _), w in sorted(self.wants.items()) if u == unit]
        worked = [w for w in worked if GRANTED.format(w.lock) in flags]
        unwanted = flags - {GRANTED.format(w.lock) for w in worked}
        assert not unwanted, f"{where}: {sorted(unwanted)} set on a unit that did not ask"

        # This hook's grant decisions: grants new in the leader-owned data, and
        # on B the leader granting itself (its guarded work ran here).
        undecided = [w for w in self.wants.values() if w.number not in self.decided]
        decided = [w for w in worked if w.number not in self.decided]
        decided += [
            w
            for w in sorted(undecided, key=lambda w: w.number)
            if w not in decided and grants_after.get(w.unit, {}).get(w.lock) == w.ts
        ]
        released_here = {w.lock for w in worked} if unit == m.leader else set()
        for want in decided:
            waiting = [
                w
                for w in self.wants.values()
                if w.lock == want.lock and w.number not in self.decided and w is not want
            ]
            passed_over = [w for w in waiting if w.number < want.number and self.knows(w)]
            assert not passed_over, (
                f"{where}: the leader granted {want.lock!r} to {want!r} before "
                f"{passed_over}, older requests it had read"
            )
            hand_over = want.lock in released_here and want.unit != unit
            self.decisions.setdefault(want.lock, []).append(
                Decision(want, step, hand_over, waiting)
            )
            self.decided.add(want.number)
        for want in worked:
            del self.wants[(unit, want.lock)]
            self.work.setdefault(want.lock, []).append(want)

        if m.settings[unit] != own_before:
            for other in m.units:
                if other != unit:
                    self.changed[other].add(unit)
        if shared_data(m) != leader_before:
            if isinstance(m, OriginalLayerModel):
                self.leader_changed.update(u for u in m.units if u != m.leader)
            else:
                self.leader_changed.update(m.units)


def shared_data(model):
    """The leader-owned data: leader settings on side B, the application databag on A."""
    return model.leader_settings if isinstance(model, OriginalLayerModel) else model.app_data


def charm_code(lock):
    """The handler of every hook: ask for ``lock`` (if any); return what the hook loaded."""

    def handler():
        import charms.coordinator

        if lock is not None:
            charms.coordinator.acquire(lock)
        c = charms.coordinator.coordinator
        own = dict(c.requests[hookenv.local_unit()])
        return own, {unit: dict(locks) for unit, locks in c.grants.items()}

    return handler


def holders_by_lock(grants):
    holders = {}
    for unit, locks in grants.items():
        for lock in locks:
            holders.setdefault(lock, []).append(unit)
    return holders


class Lockstep:
    """Sides A and B of one schedule, run hook by hook on the same units and leader."""

    def __init__(self, base, name, units, leader, options_a, options_b=ORIGINAL_SERIAL):
        self.units = units
        self.leader = leader
        self.sides = []
        for label, options, kind in (
            ("A", options_a, FakeModel),
            ("B", options_b, OriginalLayerModel),
        ):
            path = base / f"{name}-{label}"
            path.mkdir()
            model = kind(path, units=units, leader=leader, peer_cache=True)
            model.options.update(options)
            self.sides.append(Side(label, model))
        self.a, self.b = self.sides
        self.steps = 0
        self.requests = 0

    def run(self, unit, name="update-status", remote=None, request=None):
        """Run a hook on both sides; ``request`` is a lock for the handler to acquire."""
        if request is not None:
            self.requests += 1
            request = (self.requests, request)
        for side in self.sides:
            side.run(self.steps, unit, name, remote, request)
        self.steps += 1

    def due(self):
        """{unit: (hook, remotes or None)}: each unit's next due hook on either side."""
        due = {}
        for unit in self.units:
            if any(unit in side.leader_changed for side in self.sides):
                due[unit] = (SHARED, None)
            else:
                remotes = set().union(*(side.changed[unit] for side in self.sides))
                if remotes:
                    due[unit] = (CHANGED, sorted(remotes))
        return due

    def wanting(self):
        return any(side.wants for side in self.sides)

    def settle(self):
        """Run due hooks, first unit and first remote first, until nothing is due or wanted."""
        for _ in range(MAX_STEPS):
            due = self.due()
            if due:
                unit = min(due)
                name, remotes = due[unit]
                self.run(unit, name, remotes[0] if remotes else None)
            elif self.wanting():
                self.run(self.leader)
            else:
                return
        pytest.fail(f"not quiescent after {MAX_STEPS} steps")


def run_schedule(seed, base, options_a, locks, options_b=ORIGINAL_SERIAL):
    """Run the schedule drawn from ``seed`` on A and B in lockstep; return the Lockstep."""
    rng = random.Random(seed)
    units = [f"app/{n}" for n in range(rng.randint(2, 6))]
    run = Lockstep(base, str(seed), units, rng.choice(units), options_a, options_b)
    budget = rng.randint(2, 5)  # requests
    p_request = rng.uniform(0.1, 0.9)  # while hooks are due: a trickle of requests, or a burst
    for _ in range(MAX_STEPS):
        due = run.due()
        free = [
            (unit, lock)
            for unit in units
            for lock in locks
            if not any((unit, lock) in side.wants for side in run.sides)
        ]
        idle = [unit for unit in units if unit not in due]
        roll = rng.random()
        if budget and free and (not due or roll < p_request):
            unit, lock = rng.choice(free)
            budget -= 1
            run.run(unit, "config-changed", request=lock)
        elif due and not (idle and roll > 1 - P_IDLE):
            unit = rng.choice(sorted(due))
            name, remotes = due[unit]
            run.run(unit, name, rng.choice(remotes) if remotes else None)
        elif due or run.wanting():
            run.run(rng.choice(idle))
        else:
            return run
    pytest.fail(f"seed {seed}: not quiescent after {MAX_STEPS} steps")


def check_same_order(a, b):
    """Assert A and B granted each lock in the same order, or differ after a hand-over.

    Return the locks whose orders differ.
    """
    differ = []
    for lock in sorted(set(a.work) | set(b.work)):
        order_a, order_b = a.order(lock), b.order(lock)
        if order_a == order_b:
            continue
        differ.append(lock)
        assert sorted(order_a) == sorted(order_b), f"{lock!r}: A granted {order_a}, B {order_b}"
        k = next(i for i, (x, y) in enumerate(zip(order_a, order_b)) if x != y)
        da, db = a.decisions[lock][k], b.decisions[lock][k]
        # Only a hand-over explains it: A's leader passed on the lock it had
        # just released; B's did so in a later hook, to an older request
        # (one A's leader had not read: A passed the order check).
        explained = da.hand_over and db.step > da.step and db.want.number < da.want.number
        assert explained, (
            f"{lock!r}: A granted {order_a}, B {order_b}; grant {k + 1} differs: A granted "
            f"{da.want!r} at step {da.step} (hand-over: {da.hand_over}), B {db.want!r} at "
            f"step {db.step}"
        )
    return differ


@pytest.fixture
def base(model, monkeypatch):
    """A directory for the sides' unit state, in the hook environment ``model`` sets up.

    Each hook re-imports charms.coordinator (a new hook process would), and
    unitdata commits to SQLite several times a hook: over thousands of hooks
    both add up. Here sources are compiled once per content, which is what a
    valid .pyc gives (PYTHONDONTWRITEBYTECODE leaves none behind), and unit
    state lives in memory-backed /dev/shm where there is one, sparing an fsync
    per commit. Neither changes what a hook does.
    """
    compiled = {}
    source_to_code = importlib.machinery.SourceFileLoader.source_to_code

    def compile_once(self, data, path, *, _optimize=-1):
        key = (path, data, _optimize)
        if key not in compiled:
            compiled[key] = source_to_code(self, data, path, _optimize=_optimize)
        return compiled[key]

    monkeypatch.setattr(importlib.machinery.SourceFileLoader, "source_to_code", compile_once)
    # charmhelpers' BaseCoordinator.initialize() asks jujud for its version.
    monkeypatch.setattr(hookenv, "has_juju_version", lambda minimum: True)
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=shm or model.tmp_path) as path:
        yield Path(path)


# -- the peer cache the comparison relies on ----------------------------------


def read_peer(unit):
    return lambda: hookenv.relation_get("coordinator", unit, RELATION_ID)


def test_peer_cache_serves_a_peer_as_of_the_last_relation_changed_hook_for_it(model):
    model.peer_cache = True
    model.settings["app/1"]["coordinator"] = "first"
    assert model.run("app/0", handler=read_peer("app/1")).result == "first"  # cached now

    model.settings["app/1"]["coordinator"] = "second"
    model.settings["app/0"]["coordinator"] = "own"

    assert model.run("app/0", handler=read_peer("app/1")).result == "first"
    assert model.run("app/0", CHANGED, read_peer("app/1"), remote="app/2").result == "first"
    assert model.run("app/0", handler=read_peer("app/0")).result == "own"  # own: fresh
    assert model.run("app/2", handler=read_peer("app/1")).result == "second"  # first read
    assert model.run("app/0", CHANGED, read_peer("app/1"), remote="app/1").result == "second"
    model.peer_cache = False
    model.settings["app/1"]["coordinator"] = "third"
    assert model.run("app/0", handler=read_peer("app/1")).result == "third"


def test_peer_cache_drops_a_departed_unit(model):
    model.peer_cache = True
    model.settings["app/2"]["coordinator"] = "first"
    model.run("app/0", handler=read_peer("app/2"))
    model.settings["app/2"]["coordinator"] = "second"
    model.units.remove("app/2")

    hook = model.run("app/0", "coordinator-relation-departed", read_peer("app/2"), "app/2")

    assert hook.result == "second"
    assert "app/2" not in model.cache["app/0"]


# -- side B is the original layer's protocol ------------------------------------


def acquire_in_original(lock):
    def handler():
        import charms.coordinator

        got = charms.coordinator.acquire(lock)
        return charms.coordinator.__file__, charms.coordinator.coordinator, got

    return handler


def test_side_b_hooks_run_the_stand_in_for_the_original_layer(base):
    model = OriginalLayerModel(base, units=["app/0", "app/1"], leader="app/0")
    model.options.update(ORIGINAL_SERIAL)

    hook = model.run("app/0", "config-changed", acquire_in_original("restart"))

    path, coordinator, granted = hook.result
    assert path == str(ORIGINAL_LAYER / "lib" / "charms" / "coordinator.py")
    assert type(coordinator) is Serial  # charmhelpers' class, unwrapped
    assert granted
    # The original's protocol: released at the end of the hook by deleting the
    # request; the grant stays in leader settings until the leader's next hook,
    # and the granted flag in unitdata until this unit's next hook starts.
    assert model.requests_of("app/0") == {}
    assert list(model.grants()["app/0"]) == ["restart"]
    assert "coordinator.granted.restart" in unit_flags(model, "app/0")


def test_side_a_hooks_run_the_layer_after_a_side_b_hook(base):
    (base / "a").mkdir()
    (base / "b").mkdir()
    layer = FakeModel(base / "a", units=["app/0"], leader="app/0")
    original = OriginalLayerModel(base / "b", units=["app/0"], leader="app/0")
    original.run("app/0", "config-changed", acquire_in_original("restart"))

    hook = layer.run("app/0", "config-changed", acquire_in_original("restart"))

    assert hook.result[0] == str(ROOT / "lib" / "charms" / "coordinator.py")
    # The layer clears the granted flag at the end of the hook.
    assert "coordinator.granted.restart" not in unit_flags(layer, "app/0")


# -- scripted schedules ---------------------------------------------------------


UNITS = ["app/0", "app/1", "app/2", "app/3"]


def test_leader_can_only_grant_in_order_among_the_requests_it_has_read(base):
    run = Lockstep(base, "unread", UNITS[:3], "app/0", LAYER_SERIAL)
    run.run("app/0")  # the leader has read everyone (nothing yet)
    run.run("app/1", "config-changed", request="restart")  # request 1
    run.run("app/2", "config-changed", request="restart")  # request 2
    run.run("app/0", CHANGED, remote="app/2")  # the leader reads request 2 first

    run.settle()

    # Both protocols grant the request the leader read first: it could not
    # know of request 1, whose relation-changed hook had not run.
    assert run.a.order("restart") == run.b.order("restart") == [("app/2", 2), ("app/1", 1)]


def test_the_leaders_own_turn_now_hands_over_in_the_same_order(base):
    # The schedule that once made the orders differ: the layer's leader
    # granted itself, worked and handed the lock on in one hook, before it
    # had read an older request. Now its work waits for the hook after its
    # grant commits, where both protocols pass the lock on with what they
    # have read by then.
    run = Lockstep(base, "hand-over", UNITS, "app/0", LAYER_SERIAL)
    run.run("app/0")
    run.run("app/1", "config-changed", request="restart")  # request 1
    run.run("app/0", CHANGED, remote="app/1")  # grants app/1
    run.run("app/0", "config-changed", request="restart")  # request 2: the leader waits
    run.run("app/2", "config-changed", request="restart")  # request 3, not read yet
    run.run("app/3", "config-changed", request="restart")  # request 4
    run.run("app/0", CHANGED, remote="app/3")  # the leader reads request 4
    run.run("app/1", SHARED)  # app/1 works and releases
    run.run("app/0", CHANGED, remote="app/1")  # the leader reads the release
    assert holders_by_lock(run.a.model.grants()) == {"restart": ["app/0"]}  # to work next
    assert run.a.order("restart") == [("app/1", 1)]
    assert run.b.order("restart") == [("app/1", 1), ("app/0", 2)]  # worked at once
    run.run("app/0", CHANGED, remote="app/2")  # reads request 3; A works now

    run.settle()

    assert run.a.order("restart") == [("app/1", 1), ("app/0", 2), ("app/2", 3), ("app/3", 4)]
    assert run.b.order("restart") == run.a.order("restart")
    assert check_same_order(run.a, run.b) == []


def test_orders_that_differ_without_a_hand_over_fail_the_comparison(base):
    run = Lockstep(base, "no-hand-over", UNITS[:3], "app/0", LAYER_SERIAL)
    run.run("app/0")
    run.run("app/1", "config-changed", request="restart")
    run.run("app/2", "config-changed", request="restart")
    run.settle()
    run.b.work["restart"].reverse()
    run.b.decisions["restart"].reverse()

    with pytest.raises(AssertionError, match="grant 1 differs"):
        check_same_order(run.a, run.b)


class NewestFirst(Serial):
    def default_grant(self, lock, unit, granted, queue):
        return not granted and unit == queue[-1]


class Everyone(Serial):
    def default_grant(self, lock, unit, granted, queue):
        return True


def newest_first_schedule(run):
    run.run("app/0")
    run.run("app/3", "config-changed", request="restart")
    run.run("app/0", CHANGED, remote="app/3")  # grants app/3
    run.run("app/1", "config-changed", request="restart")
    run.run("app/2", "config-changed", request="restart")
    run.run("app/0", CHANGED, remote="app/1")
    run.run("app/0", CHANGED, remote="app/2")  # the leader has read both
    run.run("app/3", SHARED)
    run.run("app/0", CHANGED, remote="app/3")  # app/2 asked last, and is granted


def everyone_schedule(run):
    run.run("app/0")
    run.run("app/1", "config-changed", request="restart")
    run.run("app/2", "config-changed", request="restart")
    run.run("app/0", CHANGED, remote="app/1")
    run.run("app/0", CHANGED, remote="app/2")


@pytest.mark.parametrize(
    ("policy", "schedule", "message"),
    [
        (
            NewestFirst,
            newest_first_schedule,
            r"step 8, app/0 coordinator-relation-changed \(app/3\): the leader granted "
            r"'restart' to #3 app/2 before \[#2 app/1\], older requests it had read",
        ),
        (
            Everyone,
            everyone_schedule,
            r"step 4, app/0 coordinator-relation-changed \(app/2\): \['app/1', 'app/2'\] "
            r"all hold 'restart'",
        ),
    ],
)
def test_the_checks_catch_a_policy_that_breaks_them(base, monkeypatch, policy, schedule, message):
    policies = types.ModuleType("differential_policies")
    setattr(policies, policy.__name__, policy)
    monkeypatch.setitem(sys.modules, policies.__name__, policies)
    options = {"class": f"{policies.__name__}.{policy.__name__}"}
    run = Lockstep(base, "bad", UNITS, "app/0", options)

    with pytest.raises(AssertionError, match="side A, " + message):
        schedule(run)


# -- seeded schedules -------------------------------------------------------------


def run_seeds(seeds, base, options_a, locks, options_b=ORIGINAL_SERIAL):
    """Run and check every seed; return counts that show what the schedules exercised."""
    start = time.perf_counter()
    seen = {"steps": 0, "choices": 0, "hand-overs": 0, "orders differ": []}
    for seed in seeds:
        try:
            run = run_schedule(seed, base, options_a, locks, options_b)
            a, b = run.sides
            left = list(a.wants.values()) + list(b.wants.values())
            assert not left, f"wants left: {left}"
            differ = check_same_order(a, b)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from exc
        if differ:
            seen["orders differ"].append((seed, differ))
        decisions = [d for ds in a.decisions.values() for d in ds]
        seen["steps"] += run.steps
        seen["choices"] += sum(1 for d in decisions if d.waiting)
        seen["hand-overs"] += sum(1 for d in decisions if d.hand_over)
    print(f"\nseeds {seeds}: {seen}, {time.perf_counter() - start:.1f}s")
    return seen


@pytest.mark.parametrize("block", range(4))
def test_layer_serial_grants_in_charmhelpers_order(base, block):
    seen = run_seeds(range(block * 40, block * 40 + 40), base, LAYER_SERIAL, TWO_LOCKS)

    # The schedules made the leader choose among waiting units, and hand locks over.
    assert seen["choices"] > 10
    assert seen["hand-overs"] > 0


def test_layer_simple_grants_one_lock_in_charmhelpers_order(base):
    seen = run_seeds(range(1000, 1040), base, LAYER_SIMPLE, ("restart",))

    assert seen["choices"] > 10
    assert seen["hand-overs"] > 0


def test_layer_simple_grants_one_lock_in_the_original_layers_default_order(base):
    # The original layer's own SimpleCoordinator also grants at the end of
    # every hook, so its leader hands a released lock on in the same hook, as
    # the layer's does: the orders are the same, hand-overs included.
    seen = run_seeds(range(1000, 1040), base, LAYER_SIMPLE, ("restart",), ORIGINAL_SIMPLE)

    assert seen["choices"] > 10
    assert seen["hand-overs"] > 0
    assert seen["orders differ"] == []
