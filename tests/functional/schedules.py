"""What one seed of the fault campaign means: its schedule, its run, its checks.

Each schedule is drawn from one seed: a fixture charm (rolling-restart, one
unit at a time; policies, two at a time with the leader last; or
held-restart, which holds its lock across hooks until it is healthy), 2 to 7
units, update-status on (as in Juju), skewed unit clocks, when the roll starts
(after the deployment has settled, or while units are still installing), and
0 to 5 faults at random moments of the roll:

- ``leader-removed``: ``juju remove-unit`` of the leader (sometimes --force);
- ``lease-expired``: the leader's agent can no longer renew its lease: its
  is-leader says false from then on (it acts as a minion) and the lease
  lapses when Juju's 30 s promise of its last is-leader true ends;
- ``lease-lost-abruptly``: the lease lapses at once, inside that promise (a
  controller fault, beyond what Juju guarantees);
- ``holder-removed``: removal of the unit doing guarded work (or holding a
  grant), sometimes --force (the machine is lost: its work stops with it);
- ``unit-removed``: removal of a random unit;
- ``hook-failure:<point>``: a unit's next hook is killed before its guarded
  work (first tool call), right after it (journal end, next tool call), or
  inside the layer's end-of-hook callbacks (a unit's relation-set, or the
  leader's, which writes the application databag); Juju retries it with
  back-off;
- ``upgrade-charm``, ``config-change`` (a second roll), ``unit-added``;
- ``newcomer-elected``: a unit is added and the leader's lease passes to it
  when Juju's 30 s promise ends, so its leader-elected can run before it
  has joined any peer (its relation-list is still empty).

Half the schedules also get one upgrade fault, drawn from a random stream of
their own (so the faults above, and the runs on Juju 4 where none of these
applies, are what they were before they existed):

- ``refresh-from-original``: the application is deployed on the test
  stand-in for the original layer (rolling-restart only) and refreshed to
  this layer mid-roll: one unit first, the others some seconds later;
- ``rollback``: the way back to the original the README gives: the
  operator pauses granting (``coordinator-pause``), waits until nobody
  holds the lock, and refreshes back to the original, one unit first
  (rolling-restart only);
- ``migrate-to-4``: the model is migrated to a Juju 4 controller
  (`Simulation.migrate`): leader settings are gone, the agents run as
  Juju 4's some seconds later, or never.

Each needs leader settings, so Juju 2.9 or 3.6; on Juju 4 they are counted as
skipped and not run at all.

Always on, from the simulator itself: interleaved begin and commit of
concurrent hooks, stale peer-settings reads, coalesced hooks, and Juju's hook
priorities.

After the last fault the model runs until quiet, then, while any live unit
still has work or a lock, update-status cycles pass (at most two per unit,
plus two), and these invariants are checked:

1. ``concurrency``: never more units in guarded work than the policy allows
   (a removed unit's work ends when it is gone: killed with --force, or
   after its stop hook);
2. ``granted-without-grant``: a unit starts guarded work only while the
   committed application databag grants it the lock; the leader too (its
   own work waits for the hook after its grant commits), unless no other
   unit of the application could lead then (none, or only units being
   removed). While units run the original layer (``refresh-from-original``,
   ``rollback``), a grant in leader settings counts too: that is where the
   original keeps them. A unit alone in its application that granted itself
   as leader and lost its lease abruptly in the same hook, before its work
   started (nobody leads then), is *explained*, as below: Juju broke its
   promise there;
3. ``quiescence``: the model goes quiet within a bounded number of hooks;
4. ``lost-request``: at rest no live unit still needs its restart, still
   requests a lock, holds a ``coordinator.granted.*`` flag, or is in error.

A concurrency violation in which a unit of the overlap lost its lease
abruptly (``lease-lost-abruptly``) during its own guarded work is reported
as *explained*: Juju itself does not promise leadership there (see the
README's limitations). So is one in which every unit of the overlap ran the
test stand-in for the original layer (``refresh-from-original``,
``rollback``): this layer never writes a grant where the original reads
one (leader settings), so such an overlap comes from an original leader's
grants alone, such as the original's leader working on a grant to itself
it has not written anywhere when its lease passes on.

The campaign around it (slices, merging, reports, the command line) is
``fuzz.py``. ``fuzz.harness_key`` digests this file and ``jujusim/``: a
change here or there means a slice run before it is run again.
"""

import json
import os
import random
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from jujusim import HookLoopError, Simulation, SimulationError
from jujusim.invariants import INFINITY
from jujusim.profile import by_name

# The Juju version a schedule runs on unless told otherwise: the current one.
DEFAULT_JUJU = "4"

# fixture -> (how many units may work at once, extra config at roll time)
FIXTURES = {
    "rolling-restart": (1, {}),
    "policies": (2, {"batch": "2"}),
    # Holds its lock (acquire(hold=True)) from the restart until an
    # update-status hook finds it healthy, then release(): update-status on.
    "held-restart": (1, {}),
}
NEEDS_UPDATE_STATUS = {"held-restart"}
# Flags a unit keeps while it still has restart work to do.
UNFINISHED = (".restart-needed", ".rejoining")
# Negative controls for the checkers' own tests, never in a campaign: a charm
# that restarts without asking anyone must fail the concurrency invariant.
CONTROLS = {"no-coordinator": (1, {})}
FAULT_KINDS = (
    "leader-removed",
    "lease-expired",
    "lease-lost-abruptly",
    "holder-removed",
    "unit-removed",
    "hook-failure",
    "upgrade-charm",
    "config-change",
    "unit-added",
    "newcomer-elected",
)
FAULT_WEIGHTS = (3, 3, 1, 3, 2, 6, 1, 1, 2, 2)
# Drawn apart (see the module docstring); each needs Juju's leader settings.
UPGRADE_FAULTS = ("refresh-from-original", "rollback", "migrate-to-4")
UPGRADE_WEIGHTS = (2, 1, 2)
# The fixtures built on the test stand-in for the original layer.
ORIGINALS = {"rolling-restart": "rolling-restart-original"}
FAIL_POINTS = (
    "first-tool-call",
    "journal-end",
    "next-tool-call",
    "tool:relation-set",
    "leader:tool:relation-set",  # the leader's write of the application databag
)
GUARDED_WORK = 30.0  # the fixtures' sim-journal --duration
UPDATE_STATUS_CYCLE = 1.25 * 300.0  # beyond Juju's 5 minutes + 20 % jitter


@dataclass
class Schedule:
    seed: int
    fixture: str
    units: int
    update_status: bool
    clock_skew: Dict[str, float]
    roll_at: Optional[float]  # None: once the deployment is quiet
    faults: List[Tuple[float, str, dict]]  # (seconds after the roll starts, kind, params)

    def describe(self) -> str:
        lines = [
            "seed %d: %s on %d units, update-status %s, skew %s, roll %s"
            % (
                self.seed,
                self.fixture,
                self.units,
                "on" if self.update_status else "off",
                self.clock_skew or "none",
                "after deploy" if self.roll_at is None else "at t=%.1fs" % self.roll_at,
            )
        ]
        for at, kind, params in self.faults:
            lines.append("  +%.1fs %s %s" % (at, kind, params or ""))
        return "\n".join(lines)


@dataclass
class Outcome:
    seed: int
    faults: Counter = field(default_factory=Counter)  # injected, by kind
    skipped: Counter = field(default_factory=Counter)  # not applicable when due
    violations: List[Tuple[str, str]] = field(default_factory=list)  # (invariant, detail)
    explained: List[Tuple[str, str]] = field(default_factory=list)
    hooks: int = 0
    error: str = ""  # the runner itself broke (counted as a violation)


def generate(seed: int) -> Schedule:
    rng = random.Random(seed)
    fixture = rng.choice(sorted(FIXTURES))
    units = rng.randint(2, 7)
    skew = {}
    for n in range(units):
        if rng.random() < 0.2:
            skew["%s/%d" % (_app(fixture), n)] = round(rng.uniform(-90.0, 90.0), 1)
    roll_at = None if rng.random() < 0.7 else round(rng.uniform(0.0, 15.0), 1)
    # Faults land while the roll is likely still running: a held lock lasts
    # until an update-status hook (every 300 s) finds its holder healthy.
    horizon = units * (330.0 if fixture in NEEDS_UPDATE_STATUS else GUARDED_WORK + 10.0)
    faults = []
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4, 5))):
        kind = rng.choices(FAULT_KINDS, FAULT_WEIGHTS)[0]
        params = {}
        if kind in ("leader-removed", "holder-removed", "unit-removed"):
            params["force"] = rng.random() < 0.3
        if kind == "hook-failure":
            params["point"] = rng.choice(FAIL_POINTS)
            params["pick"] = rng.random()
        if kind == "unit-removed":
            params["pick"] = rng.random()
        faults.append((round(rng.uniform(0.0, horizon), 1), kind, params))
    upgrades = random.Random("upgrades:%d" % seed)
    if upgrades.random() < 0.5:
        # The original stand-in exists for rolling-restart only.
        kind = (
            upgrades.choices(UPGRADE_FAULTS, UPGRADE_WEIGHTS)[0]
            if fixture in ORIGINALS
            else "migrate-to-4"
        )
        if kind == "migrate-to-4":
            params = {"agents_after": upgrades.choice((0.0, 30.0, 120.0, None))}
        else:
            params = {"first": upgrades.random(), "later": round(upgrades.uniform(5, 200), 1)}
        faults.append((round(upgrades.uniform(0.0, horizon), 1), kind, params))
    faults.sort(key=lambda f: f[0])
    # Juju always runs update-status (every 5 minutes by default), and the
    # layer relies on it: a holder removed mid-work keeps its grant until the
    # leader's next hook after the unit is gone, which may be update-status.
    update_status = True
    return Schedule(seed, fixture, units, update_status, skew, roll_at, faults)


def _app(fixture):
    return fixture  # each fixture's metadata.yaml names the charm after the fixture


class ScheduleRun:
    """One schedule against one simulation; collects what the checks need."""

    def __init__(
        self,
        schedule: Schedule,
        charms: Dict[str, str],
        workdir: str,
        backend: str = "fork",
        profile: str = DEFAULT_JUJU,
    ):
        self.s = schedule
        self.charm = charms[schedule.fixture]
        self.original = charms.get(ORIGINALS.get(schedule.fixture, ""))
        self.allowed, self.extra_config = {**FIXTURES, **CONTROLS}[schedule.fixture]
        self.profile = by_name(profile)
        # Upgrade faults that cannot apply are never run (see the docstring).
        self.faults = []
        self.not_applicable = Counter()
        for fault in schedule.faults:
            if fault[1] in UPGRADE_FAULTS and not self._applicable(fault[1]):
                self.not_applicable[fault[1]] += 1
            else:
                self.faults.append(fault)
        kinds = [kind for _, kind, _ in self.faults]
        # Units on the original layer keep their grants in leader settings.
        self.mixed = "refresh-from-original" in kinds or "rollback" in kinds
        self.current = self.original if "refresh-from-original" in kinds else self.charm
        self.sim = Simulation(
            self.current,
            units=schedule.units,
            seed=schedule.seed,
            backend=backend,
            workdir=workdir,
            update_status=schedule.update_status,
            clock_skew=schedule.clock_skew,
            profile=self.profile,
        )
        self.out = Outcome(schedule.seed)
        self.out.skipped.update(self.not_applicable)
        self.killed_at: Dict[str, float] = {}  # unit removed with --force -> when
        self.removing_at: Dict[str, float] = {}  # unit whose removal began -> when
        self.abrupt: List[Tuple[str, float]] = []  # (deposed leader, when)
        self.generation = 0
        self.injected_at: Dict[str, float] = {}  # fault kind -> when first injected

    def _applicable(self, kind) -> bool:
        if not self.profile.fires("leader-settings-changed"):
            return False  # Juju 4: no leader settings to migrate from or to serve the original
        return kind == "migrate-to-4" or self.original is not None

    def budget(self):
        n = len(self.sim.units) + 2
        return 60 * n * n + 1000

    def run(self) -> Outcome:
        sim = self.sim
        try:
            if self.s.roll_at is None:
                sim.run_until_quiet(max_hooks=self.budget())
            else:
                sim.run_until(self.s.roll_at, max_hooks=self.budget())
            start = sim.now
            self.generation += 1
            sim.set_config(generation=self.generation, **self.extra_config)
            for at, kind, params in self.faults:
                sim.run_until(start + at, max_hooks=self.budget())
                if self._inject(kind, params):
                    self.out.faults[kind] += 1
                else:
                    self.out.skipped[kind] += 1
            try:
                sim.run_until_quiet(max_hooks=self.budget())
                if self.s.update_status:
                    # Quiet is not done yet: a held lock is released at its
                    # holder's next update-status, and a grant of a unit
                    # removed mid-work ends at the leader's next hook after
                    # it is gone. Let update-status cycles pass until no
                    # unit has work left (bounded: two cycles per unit).
                    for _ in range(2 * len(sim.units) + 2):
                        if not any(self._unfinished(u) for u in self._live()):
                            break
                        sim.run_for(UPDATE_STATUS_CYCLE, max_hooks=self.budget())
                        sim.run_until_quiet(max_hooks=self.budget())
            except HookLoopError as e:
                self._violate("quiescence", str(e).split(";")[0])
            self._check()
        except HookLoopError as e:
            self._violate("quiescence", str(e).split(";")[0])
        except Exception:
            self.out.error = traceback.format_exc()
        finally:
            self.out.hooks = sum(1 for r in sim.trace if r.event == "begin")
            sim.close()
        return self.out

    # -- faults -------------------------------------------------------------------------

    def _live(self):
        return [u for u in self.sim.units if not self.sim.model.units[u].dying]

    def _working(self):
        live = self._live()
        return [
            u for _, end, u, _ in _intervals(self.sim.journal) if end == INFINITY and u in live
        ]

    def _inject(self, kind, params) -> bool:
        sim = self.sim
        live = self._live()
        if kind in ("leader-removed", "holder-removed", "unit-removed") and len(live) < 2:
            return False
        if kind == "leader-removed":
            if sim.leader is None or sim.leader not in live:
                return False
            self._remove(sim.leader, params["force"])
        elif kind in ("lease-expired", "lease-lost-abruptly"):
            if sim.leader is None:
                return False
            abrupt = kind == "lease-lost-abruptly"
            leader = sim.expire_lease(honour_guarantee=not abrupt)
            if abrupt:
                self.abrupt.append((leader, sim.now))
        elif kind == "holder-removed":
            working = self._working() or self._grantees(live)
            if not working:
                return False
            self._remove(working[0], params["force"])
        elif kind == "unit-removed":
            self._remove(live[int(params["pick"] * len(live))], params["force"])
        elif kind == "hook-failure":
            point = params["point"]
            on_leader = point.startswith("leader:")
            point = point[len("leader:") :] if on_leader else point
            candidates = [sim.leader] if on_leader and sim.leader else live
            candidates = [u for u in candidates if u in live]
            if not candidates:
                return False
            sim.fail_next_hook(candidates[int(params["pick"] * len(candidates))], point)
        elif kind == "upgrade-charm":
            sim.upgrade_charm(self.current)  # the charm the application is set to
        elif kind == "config-change":
            self.generation += 1
            sim.set_config(generation=self.generation)
        elif kind == "unit-added":
            sim.add_unit()
        elif kind == "newcomer-elected":
            if sim.leader is None:
                return False
            sim.expire_lease(honour_guarantee=True, successor=sim.add_unit())
        elif kind == "refresh-from-original":
            self._refresh(self.charm, params)
        elif kind == "rollback":
            if not self._rollback(params):
                return False
        elif kind == "migrate-to-4":
            try:
                sim.migrate(agents_after=params["agents_after"])
            except SimulationError:
                return False  # Juju refuses: a unit is still upgrading
        self.injected_at.setdefault(kind, sim.now)
        return True

    def _refresh(self, charm, params):
        """`juju refresh` to `charm`: one unit's agent acts first, the others later."""
        sim = self.sim
        live = self._live()
        first = live[int(params["first"] * len(live))]
        sim.upgrade_charm(charm, units=[first])
        self.current = charm
        sim.schedule(sim.now + params["later"], "deliver_charm")  # whoever is left

    def _rollback(self, params) -> bool:
        """The README's way back to the original: pause, wait for no holder, refresh."""
        sim = self.sim
        if sim.leader is None or sim.leader not in self._live():
            return False
        action = sim.run_action(sim.leader, "coordinator-pause", {})
        deadline = sim.now + 4 * UPDATE_STATUS_CYCLE
        while sim.now < deadline:
            done = sim.action(action).status not in ("pending", "running")
            if done and not self._working() and not self._grantees(self._live()):
                break
            sim.run_for(5.0, max_hooks=self.budget())
        else:
            # Never drained (the leader gone or in error, say): the operator
            # gives up and resumes, if the pause took.
            if sim.action(action).status == "completed" and sim.leader in self._live():
                sim.run_action(sim.leader, "coordinator-resume", {})
            return False
        if sim.action(action).status != "completed":
            return False
        self._refresh(self.original, params)
        return True

    def _grantees(self, live):

        try:
            grants = json.loads(self.sim.app_data().get("coordinator") or "{}")
        except ValueError:
            return []
        return [u for u in sorted(grants) if u in live and grants[u]]

    def _remove(self, unit, force):
        self.removing_at.setdefault(unit, self.sim.now)
        if force:
            self.killed_at[unit] = self.sim.now
        self.sim.remove_unit(unit, force=force)

    # -- invariants -------------------------------------------------------------------

    def _violate(self, invariant, detail):
        self.out.violations.append((invariant, detail))

    def _check(self):
        sim = self.sim
        # A removed unit's work (a lock it held across hooks, say) ends when
        # the unit is gone: killed with --force, or after its stop hook.
        gone = dict(self.killed_at)
        for r in sim.trace:
            if r.hook == "stop" and r.event == "commit":
                gone.setdefault(r.unit, r.time)
        intervals = [
            (start, min(end, gone.get(unit, INFINITY)), unit, lock)
            for start, end, unit, lock in _intervals(sim.journal)
        ]
        self._check_concurrency(intervals)
        self._check_grant_held(intervals, gone)
        for unit in sim.units:
            if sim.model.units[unit].dying:
                continue
            if sim.in_error(unit):
                self._violate("lost-request", "%s left in error (%s)" % (unit, sim.in_error(unit)))
            waiting = self._unfinished(unit)
            if waiting:
                self._violate("lost-request", "%s at rest with %s" % (unit, ", ".join(waiting)))

    def _unfinished(self, unit):
        """The flags that say `unit` still has restart work or a lock to come."""
        return [
            f
            for f in self.sim.flags(unit)
            if f.endswith(UNFINISHED)
            or f.startswith("coordinator.requested.")
            or f.startswith("coordinator.granted.")
        ]

    def _check_concurrency(self, intervals):
        events = sorted(
            [(s, 1, u) for s, e, u, _ in intervals] + [(e, 0, u) for s, e, u, _ in intervals]
        )
        inside = []
        for when, starting, unit in events:
            if not starting:
                inside.remove(unit)
                continue
            inside.append(unit)
            if len(inside) > self.allowed:
                detail = "%d units in guarded work at t=%.1f (allowed %d): %s" % (
                    len(inside),
                    when,
                    self.allowed,
                    ", ".join(inside),
                )
                if self._explained(inside, when, intervals):
                    self.out.explained.append(("concurrency", detail))
                else:
                    self._violate("concurrency", detail)
                return

    def _explained(self, inside, when, intervals):
        """Overlap that needs leadership lost inside Juju's 30 s promise, mid-work,
        or in which every unit ran the original layer (see the module docstring)."""
        if all(self._on_original(u, when) for u in inside):
            return True
        for unit, deposed in self.abrupt:
            for s, e, u, _ in intervals:
                if u == unit and u in inside and s <= deposed < e:
                    return True
        return False

    def _leader_at(self, when):
        """The unit whose is-leader could say true at `when`: the lease holder,
        unless its agent could no longer renew the lease (an honoured expiry)."""
        leader, index = None, 0
        for i, (t, name) in enumerate(self.sim.leader_history):
            if t > when:
                break
            leader, index = name, i + 1
        for t, name, after in self.sim.renewal_lost_history:
            if after == index and name == leader and t <= when:
                return None
        return leader

    def _alone(self, unit, when, gone):
        """Whether `unit` was the only unit of the application at `when` that could
        lead: every other had not begun a hook yet, had gone (its stop hook
        committed, or removed with --force), or was being removed (Juju never
        gives leadership to a dying unit)."""
        first = {}
        for r in self.sim.trace:
            first.setdefault(r.unit, r.time)
        out = {u: min(gone.get(u, INFINITY), self.removing_at.get(u, INFINITY)) for u in first}
        return not any(u != unit and t <= when < out[u] for u, t in first.items())

    def _on_original(self, unit, when) -> bool:
        """Whether `unit` ran the original layer's files at `when`."""
        if not self.mixed:
            return False
        charm = None
        for t, name, source in self.sim.charm_history:
            if t > when:
                break
            if name == unit:
                charm = source
        return charm is not None and os.path.realpath(charm) == os.path.realpath(self.original)

    def _check_grant_held(self, intervals, gone):
        history = self.sim.app_data_history
        for start, _, unit, lock in intervals:
            leader = self._leader_at(start)
            if leader == unit and self._alone(unit, start, gone):
                continue  # a leader alone uses its grant at once: nobody else can lead
            settings = {}
            for t, values in history:
                if t > start:
                    break
                settings = values
            grants = _grants(settings)
            if self._on_original(unit, start):
                if leader == unit:
                    # The original's leader works on a grant to itself that it
                    # writes to leader settings only as its hook ends, if at all.
                    continue
                # The original reads its grants from leader settings.
                for t, values in self.sim.leader_settings_history:
                    if t > start:
                        break
                    grants = _grants(values)
            if lock not in (grants.get(unit) or {}):
                detail = "%s started guarded work on %r at t=%.1f without a grant (leader %s)" % (
                    unit,
                    lock,
                    start,
                    leader,
                )
                if self._alone(unit, start, gone) and self._lost_lease_abruptly(unit, start):
                    self.out.explained.append(("granted-without-grant", detail))
                else:
                    self._violate("granted-without-grant", detail)

    def _lost_lease_abruptly(self, unit, when) -> bool:
        """Whether `unit` led until an abrupt lease loss inside the hook it runs at `when`,
        and nobody has led since: the hook that granted as leader, not a later one."""
        history = [(t, name) for t, name in self.sim.leader_history if t <= when]
        if len(history) < 2 or history[-1][1] is not None or history[-2][1] != unit:
            return False
        lapsed = history[-1][0]
        if not any(u == unit and abs(t - lapsed) < 1e-9 for u, t in self.abrupt):
            return False
        began = [r.time for r in self.sim.trace if r.unit == unit and r.event == "begin"]
        running = [t for t in began if t <= when]
        return bool(running) and running[-1] <= lapsed


def _grants(settings) -> dict:
    """The grants {unit: {lock: ts}} kept under the layer's key in `settings`, or {}."""
    try:
        grants = json.loads(settings.get("coordinator") or "{}")
    except ValueError:
        return {}
    if not isinstance(grants, dict):
        return {}
    return {u: dict(locks) for u, locks in grants.items() if isinstance(locks, dict)}


def _intervals(journal):
    """(start, end, unit, lock) of guarded work, pairing each start with the next end.

    Unlike jujusim.invariants.guarded_intervals this accepts an end with no
    open start: a hook killed right after recording its end is retried, and
    the retry may record the end again (work runs at least once).
    """
    open_, result = {}, []
    for entry in journal:
        key = (entry.unit, entry.lock)
        if entry.event == "start":
            if key in open_:  # started again without an end: the first ran on
                continue
            open_[key] = entry.time
        elif key in open_:
            result.append((open_.pop(key), entry.time, entry.unit, entry.lock))
    result.extend((start, INFINITY, unit, lock) for (unit, lock), start in open_.items())
    return sorted(result)


def run_schedule(seed: int, charms: Dict[str, str], profile: str = DEFAULT_JUJU) -> Outcome:
    """Run seed `seed` on the Juju version `profile` ("2.9", "3.6" or "4")."""
    schedule = generate(seed)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as workdir:
        return ScheduleRun(schedule, charms, workdir, profile=profile).run()
