"""The simulation: one Juju application, its units' agents and their hook processes.

`Simulation` is the public face (its API is in the package docstring); the
work is done in rooms:

* `scheduler.Scheduler`: the seeded discrete-event queue, simulated time,
  wakes, timers and the run loops;
* `agent.UnitAgents`: the unit agents' state machine (which hook is next,
  prepare, commit or fail, the relation cache, charm files);
* `leadership.Leadership`: leader, lease terms, elections, expiry, is-leader
  promises and the leader settings;
* `driver.HookDriver`: the hook processes (through a backend), the tool
  socket, faults, each hook's begin and end;
* `context.HookContext` and `context.ToolSinks`: what one hook sees, and the
  records of the tools that act at once;
* `clock.WallClocks`: the units' simulated wall clocks.

Given a seed and deterministic charms, the run is deterministic.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from typing import Dict, Iterable, List, Optional

from . import charmdir
from .agent import UnitAgents
from .backends import BACKENDS
from .clock import CLOCK_EPOCH, WallClocks, check_skew, is_number
from .context import HookContext, ToolSinks
from .driver import HookDriver
from .leadership import Leadership
from .migration import Migration
from .model import (
    ActionState,
    CostModel,
    HookRecord,
    JournalEntry,
    LogRecord,
    ModelState,
    RelationState,
    SimulationError,
    StatusRecord,
    ToolCallRecord,
    UnitState,
)
from .profile import DEFAULT_PROFILE, JUJU_4, JujuProfile
from .scheduler import Scheduler


class Simulation(object):
    """A Juju application of N units running a real charm's hooks.

    ``Simulation(charm_dir, units=3, seed=0, workdir=None, config=None,
    backend='exec')``; see the package docstring for the full API.
    ``profile`` (a `profile.JujuProfile`, default `profile.JUJU_2_9`) picks
    the Juju version's rules; ``juju_version`` overrides its JUJU_VERSION.
    """

    def __init__(
        self,
        charm_dir: str,
        units: int = 3,
        seed: int = 0,
        workdir: Optional[str] = None,
        config: Optional[dict] = None,
        backend: str = "exec",
        application: Optional[str] = None,
        costs: Optional[CostModel] = None,
        update_status: bool = False,
        python: Optional[str] = None,
        hook_timeout: float = 120.0,
        model_name: str = "sim",
        juju_version: Optional[str] = None,
        shim: str = "auto",
        clock_epoch: float = CLOCK_EPOCH,
        clock_skew: Optional[Dict[str, float]] = None,
        profile: Optional[JujuProfile] = None,
    ):
        if not isinstance(units, int) or units < 1:
            raise SimulationError("a simulation needs at least one unit, got %r" % (units,))
        if shim not in ("auto", "c", "python"):
            raise SimulationError("shim must be 'auto', 'c' or 'python', got %r" % (shim,))
        if backend not in BACKENDS:
            raise SimulationError(
                "unknown backend %r: use one of %s" % (backend, sorted(BACKENDS))
            )
        self._charm = charmdir.load_charm(charm_dir)
        if not is_number(clock_epoch) or clock_epoch < 0:
            raise SimulationError(
                "clock_epoch must be a Unix time in seconds, got %r" % (clock_epoch,)
            )
        self.clock_epoch = clock_epoch
        config = copy.deepcopy(dict(config or {}))
        unknown = sorted(set(config) - set(self._charm.config_defaults))
        if unknown:
            raise SimulationError(
                "config option(s) %s not in %s/config.yaml"
                % (", ".join(unknown), self._charm.path)
            )
        skew: Dict[str, float] = {}
        for name, seconds in dict(clock_skew or {}).items():
            check_skew(name, seconds, application or self._charm.name)
            skew[name] = float(seconds)
        self.seed = seed
        self._rng = random.Random(seed)
        self.costs = copy.deepcopy(costs) if costs is not None else CostModel()
        self.hook_timeout = hook_timeout
        profile = DEFAULT_PROFILE if profile is None else profile
        if not isinstance(profile, JujuProfile):
            raise SimulationError("profile must be a jujusim JujuProfile, got %r" % (profile,))
        if juju_version is not None:
            profile = dataclasses.replace(profile, version=juju_version)
        self.profile = profile
        self.juju_version = profile.version
        self._python = python or sys.executable
        self._own_workdir = workdir is None
        self.workdir = os.path.abspath(workdir or tempfile.mkdtemp(prefix="jujusim-"))
        os.makedirs(self.workdir, exist_ok=True)

        app = application or self._charm.name
        self.model = ModelState(
            model_name=model_name,
            model_uuid=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
            application=app,
        )
        self.model.config = dict(self._charm.config_defaults)
        self.model.config.update(config)
        for i, (name, interface) in enumerate(sorted(self._charm.peers.items())):
            rid = "%s:%d" % (name, i)
            self.model.relations[rid] = RelationState(id=rid, name=name, interface=interface)

        self._sched = Scheduler(self.model, self._rng, self.costs)
        self._leadership = Leadership(self.model, self._sched)
        self._agents = UnitAgents(
            self.model, self._sched, profile, self._charm.path, update_status
        )
        self._sinks = ToolSinks(self.model, self._sched)
        self._clocks = WallClocks(
            os.path.join(self.workdir, "sim", "clock"), clock_epoch, skew, self._sched
        )
        self._next_action = 1
        self._closed = False
        self._driver = HookDriver(
            self._sched,
            self.model,
            self._agents,
            self._clocks,
            self._new_context,
            self.workdir,
            self._python,
            shim,
            backend,
            hook_timeout,
            profile,
        )
        self.socket_path = self._driver.socket_path
        self.tools_dir = self._driver.tools_dir
        self.backend = backend

        # Side channels.
        self.trace: List[HookRecord] = self._driver.trace
        self.tool_calls: List[ToolCallRecord] = self._driver.tool_calls
        self.logs: List[LogRecord] = self._sinks.logs
        self.status_history: List[StatusRecord] = self._sinks.status_history
        self.journal: List[JournalEntry] = self._sinks.journal
        # (simulated time, leader or None) at each change of leader, and
        # (time, settings) at each change of the leader settings.
        self.leader_history: List[tuple] = self._leadership.history
        self.leader_settings_history: List[tuple] = self._leadership.settings_history
        # (time, unit, len(leader_history) then) each time a leader's agent
        # lost the ability to renew its lease (an honoured expiry began).
        self.renewal_lost_history: List[tuple] = self._leadership.renewal_lost_history
        # (time, unit, hook, reason) of each hook whose exit-0 commit Juju
        # refused (application data written by a unit no longer leader).
        self.commit_refusals: List[tuple] = self._agents.refusals
        # (time, unit, charm directory) each time a unit's charm files are put
        # in place: at install, and as the first hook after a refresh begins.
        self.charm_history: List[tuple] = self._agents.charm_history
        # (time, stage) as a migration (`migrate`) reaches each stage.
        self.migration_history: List[tuple] = []

        try:
            self._driver.start()
            for _ in range(units):
                self._create_unit()
            self._leadership.elect_first()
            for name in self.model.live_units():
                self._sched.wake(name)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------
    # Set-up helpers

    @property
    def update_status(self) -> bool:
        """Whether update-status runs every 300 s +-20 % on started units."""
        return self._agents.update_status

    def _new_context(self, unit: str, spec, context_id: str, cwd: str, add_time) -> HookContext:
        return HookContext(
            self.model, self._leadership, self._sinks, unit, spec, context_id, cwd, add_time
        )

    def wall_clock_ns(self, unit: str) -> int:
        """The unit's simulated wall time now, in Unix nanoseconds (epoch + now + skew)."""
        return self._clocks.ns(unit)

    def wall_clock(self, unit: str) -> float:
        """The unit's simulated wall time now, in Unix seconds (what time.time() reads)."""
        return self.wall_clock_ns(unit) / 1e9

    def _write_jujud(self, tools: str):
        """The agent binary has_juju_version() asks (`jujud version`)."""
        jujud = os.path.join(tools, "jujud")
        with open(jujud + ".new", "w") as f:
            f.write("#!/bin/sh\necho %s-ubuntu-amd64\n" % self.juju_version)
        os.chmod(jujud + ".new", 0o755)
        os.replace(jujud + ".new", jujud)

    def _switch_profile(self, profile: JujuProfile):
        """Later hooks run under `profile` (between hooks only: `jujusim.migration`)."""
        self.profile = profile
        self.juju_version = profile.version
        self._agents.profile = profile
        self._driver.set_profile(profile)
        for unit in self.model.units.values():
            tools = os.path.join(
                self.workdir, "var", "lib", "juju", "tools", "machine-%s" % unit.machine
            )
            if os.path.isdir(tools):
                self._write_jujud(tools)

    def _create_unit(self) -> str:
        n = self.model.next_unit_number
        self.model.next_unit_number += 1
        name = "%s/%d" % (self.model.application, n)
        root = charmdir.unit_root(self.workdir, name)
        charm = os.path.join(root, "charm")
        os.makedirs(charm)
        tools = os.path.join(self.workdir, "var", "lib", "juju", "tools", "machine-%d" % n)
        os.makedirs(tools, exist_ok=True)
        self._write_jujud(tools)
        unit = UnitState(
            name=name,
            number=n,
            machine=str(n),
            address="10.1.%d.%d" % (n // 250, n % 250 + 2),
            charm_dir=charm,
            charm_seen=self.model.charm_version,
        )
        self.model.units[name] = unit
        self._agents.install_charm(unit)
        return name

    # ------------------------------------------------------------------
    # Running

    @property
    def now(self) -> float:
        """Simulated time, in seconds since the simulation began."""
        return self._sched.now

    def run_until_quiet(self, max_hooks: int = 10000, retries: bool = True) -> int:
        """Run until no hook is due or running; return the number of hooks begun.

        With ``retries=False`` a unit waiting to retry a failed hook counts as
        quiet. Periodic update-status never keeps the model busy. Raises
        `HookLoopError` (naming the most repeated hooks) after `max_hooks`.
        """
        self._check_open()
        return self._sched.run_until_quiet(max_hooks, retries)

    def run_for(self, seconds: float, max_hooks: int = 100000) -> int:
        """Advance simulated time by `seconds`, running everything due (update-status too)."""
        return self.run_until(self.now + seconds, max_hooks)

    def run_until(self, when: float, max_hooks: int = 100000) -> int:
        """Run every event due up to simulated time `when`, then stop there.

        Hooks still running at `when` stay paused mid-hook (their processes
        wait for a tool answer), so a scenario operation can land while, say,
        a unit is inside its guarded work.
        """
        self._check_open()
        return self._sched.run_until(when, max_hooks)

    # ------------------------------------------------------------------
    # Fault injection: writes as a peer or the leader would commit them

    def write_leader_settings(self, changes: Dict[str, Optional[str]]):
        """Apply `changes` (key -> str, or None to delete) to the leader settings.

        What a successful ``leader-set`` does (`Leadership.write_settings`):
        the settings change at once and, if anything really changed, the
        version is bumped and leader-settings-changed becomes due on every
        non-leader (not on the leader). Called by a test it is a fault
        injection: whatever the leader would have written, garbage included.
        """
        self._check_open()
        _check_changes(changes)
        if not self.profile.fires("leader-settings-changed") or self.model.leader_settings_stub:
            raise SimulationError(
                "profile %s has no leader settings (use write_app_data)" % self.profile.name
            )
        self._leadership.write_settings(changes)

    def write_app_data(
        self, changes: Dict[str, Optional[str]], relation: Optional[str] = "coordinator"
    ) -> bool:
        """Fault injection: a committed change to the application databag of `relation`.

        Applies `changes` (key -> str, or None to delete) as if a hook of the
        leader had committed them (`UnitAgents.apply_app_changes`): a real
        change gives the bag a new version and makes an application-level
        <relation>-relation-changed due on every unit in the relation, the
        leader included; a write that changes nothing triggers nothing. No
        leadership is checked (garbage as the leader would have written it).
        Returns True if the bag changed.
        """
        self._check_open()
        _check_changes(changes)
        return self._agents.apply_app_changes(self._rid(relation), dict(changes))

    def write_relation_settings(
        self, unit: str, changes: Dict[str, Optional[str]], relation: Optional[str] = None
    ) -> bool:
        """Fault injection: a buggy peer's committed write to its own relation settings.

        Applies `changes` (key -> str, or None to delete the key) to `unit`'s
        settings in the peer relation `relation` (name or id; default: the
        first peer relation) exactly as if a hook of `unit` had committed
        them: a real change bumps the settings version and makes
        <relation>-relation-changed due on every other unit in scope, with
        `unit` as the remote unit; a write that changes nothing triggers
        nothing. `unit` itself gets no hook for it, as for its own writes. A
        hook `unit` is running meanwhile keeps what it already read and
        commits its own writes over these, key by key. Returns True if the
        settings changed. `unit` must be live and in the relation's scope.
        """
        self._check_open()
        self._live_unit(unit)
        _check_changes(changes)
        rid = self._rid(relation)
        if unit not in self.model.relations[rid].scope:
            raise SimulationError("unit %s is not in the scope of %s yet" % (unit, rid))
        return self._agents.apply_relation_changes(unit, rid, dict(changes))

    # ------------------------------------------------------------------
    # Scenario operations

    def _check_open(self):
        if self._closed:
            raise SimulationError("the simulation is closed")

    def _live_unit(self, name: str) -> UnitState:
        unit = self.model.units.get(name)
        if unit is None or not unit.alive:
            raise SimulationError(
                "no live unit %r in the model (units: %s)"
                % (name, ", ".join(self.model.live_units()) or "none")
            )
        return unit

    def set_config(self, **options):
        """Change application config; config-changed runs where the value changed."""
        self._check_open()
        options = copy.deepcopy(options)
        unknown = sorted(set(options) - set(self._charm.config_defaults))
        if unknown:
            raise SimulationError("config option(s) %s not in config.yaml" % ", ".join(unknown))
        new = dict(self.model.config)
        new.update(options)
        if new != self.model.config:
            self.model.config = new
            self.model.config_version += 1
            self._sched.wake_all()

    def add_unit(self) -> str:
        """Add a unit; it starts with install. Returns its name."""
        self._check_open()
        name = self._create_unit()
        self._sched.wake(name)
        return name

    def remove_unit(self, name: str, force: bool = False):
        """Remove a unit: cleanly (``juju remove-unit``) or abruptly (``force=True``).

        Clean: the others see the unit depart at once (Juju's cleanup of a
        dying unit marks it departing in every relation it joined): their
        relation-departed for it is due and their relation-list drops it.
        The unit itself finishes the hook it is running, then runs
        relation-departed for each remaining peer, leaves the relation's
        scope, runs stop and is gone. A dying unit in error departs no
        further until its failed hook succeeds (it keeps retrying; use
        ``force=True`` to get rid of it).

        Force (``juju remove-unit --force``, or the machine is lost): the unit
        leaves the scope and the model at once; a hook it is running is
        killed (exit -9) and commits nothing; it runs no departed or stop
        hook. The others' relation-departed for it is due at once; its
        settings stay readable (Juju keeps them for the relation's
        lifetime). A dying unit can still be removed with force.

        If the unit is the leader, it resigns at once and another live unit
        is elected within the lease.
        """
        self._check_open()
        unit = self._live_unit(name)
        if unit.dying and not force:
            raise SimulationError(
                "unit %s is already being removed (force=True removes it at once)" % name
            )
        unit.dying = True
        if self.model.leader == name:
            self._leadership.resign(name)
        if force:
            self._vanish(unit)
        self._sched.wake_all()

    def _vanish(self, unit: UnitState):
        """The unit is gone from the model at once; a hook it runs is killed."""
        unit.alive = False
        for rel in self.model.relations.values():
            if unit.name in rel.scope:
                rel.scope = [u for u in rel.scope if u != unit.name]
        self._driver.vanish(unit.name)

    def remove_leader(self, force: bool = False) -> str:
        """Remove the current leader (see `remove_unit`); another is elected within the lease."""
        if self.model.leader is None:
            raise SimulationError("there is no leader to remove right now")
        name = self.model.leader
        self.remove_unit(name, force=force)
        return name

    def expire_lease(self, honour_guarantee: bool = False, successor: Optional[str] = None) -> str:
        """The leader's lease lapses; another live unit is elected within the lease.

        By default the leader is deposed at once, even inside a hook where
        is-leader has just said true: harsher than Juju, which promises a
        unit whose is-leader said true leadership for the next 30 s (loss
        sooner takes a controller fault). With ``honour_guarantee=True`` the
        leader's agent can no longer renew the lease (in Juju each is-leader
        true is a renewal by the unit's leadership tracker): from now on its
        is-leader says false, and the lease lapses when the last promise
        ends, 30 s after its last is-leader true, or now if that is longer
        ago. ``successor`` names the live unit that claims the lease as soon
        as it is free (by default a seeded unit claims it within the lease).
        """
        self._check_open()
        old = self.model.leader
        if old is None:
            raise SimulationError("there is no leader whose lease could expire")
        if successor is not None:
            self._live_unit(successor)
            if successor == old:
                raise SimulationError("the successor must not be the leader whose lease lapses")
        self._leadership.expire(honour_guarantee, successor)
        return old

    def confirm_leader(self, unit: str) -> bool:
        """is-leader from `unit`: True (a promise for the next 30 s) if it leads and can renew."""
        return self._leadership.confirm(unit)

    def leads(self, unit: str) -> bool:
        """Whether `unit` holds the lease and its agent can still renew it."""
        return self._leadership.leads(unit)

    def fail_next_hook(self, unit: str, after_journal_end=True, lock: Optional[str] = None):
        """Make the unit's next hook fail by killing its process (exit -9).

        `after_journal_end`: True or 'journal-end' kills it at its next
        ``sim-journal end`` (optionally for `lock`), after the end is recorded
        and before it learns so; 'next-tool-call' lets that call finish and
        kills at the following tool call; 'first-tool-call' (or False) kills
        the next hook at its first tool call; 'tool:NAME' kills the next hook
        that calls hook tool NAME, at that call and before it takes effect
        (e.g. 'tool:relation-set' lands in the layer's end-of-hook callbacks).
        """
        self._check_open()
        self._live_unit(unit)
        self._driver.faults.arm(unit, after_journal_end, lock)

    def set_clock_skew(self, unit: str, seconds: float):
        """Set how far the unit's wall clock is ahead of (or, negative, behind) the model's.

        Hook processes of the unit read epoch + simulated time + skew from
        time.time() and datetime.now() from their next tool call on (a hook's
        clock never goes backwards, so a negative step shows from its next hook).
        """
        self._check_open()
        if unit not in self.model.units:
            raise SimulationError("no unit %r in the model" % (unit,))
        check_skew(unit, seconds, self.model.application)
        self._clocks.skew[unit] = float(seconds)

    def upgrade_charm(self, new_charm_dir: str, units: Optional[Iterable[str]] = None):
        """Deploy a new charm revision (`juju refresh`): upgrade-charm, then config-changed.

        Every unit's agent learns of it at once, or with `units` only those
        (live units); the others keep running the charm they have until
        `deliver_charm` names them. Juju refreshes no unit in any set order:
        each unit agent acts on the application's new charm on its own, when
        its watcher reports it and its current hook has ended, so a scenario
        may pick which units run the new revision while the others still
        run the old one. A later refresh (back to an older build too) is a
        new version; a unit held back meanwhile goes straight to the newest.
        """
        self._check_open()
        if units is not None:
            units = set(units)
            for name in units:
                self._live_unit(name)
        info = charmdir.load_charm(new_charm_dir)
        if info.name != self._charm.name:
            raise SimulationError(
                "cannot upgrade charm %r to a different charm %r" % (self._charm.name, info.name)
            )
        if sorted(info.peers) != sorted(self._charm.peers):
            raise SimulationError("jujusim does not simulate adding or removing peer relations")
        self._charm = info
        if units is not None:
            for name, unit in self.model.units.items():
                if unit.alive and name not in units:
                    self.model.charm_known.setdefault(name, self.model.charm_for(name))
        for name in units or ():
            self.model.charm_known.pop(name, None)
        self.model.charm_version += 1
        self._agents.add_charm(self.model.charm_version, info.path)
        config = dict(info.config_defaults.items())
        config.update({k: v for k, v in self.model.config.items() if k in config})
        if config != self.model.config:
            self.model.config = config
            self.model.config_version += 1
        self._sched.wake_all()

    def deliver_charm(self, units: Optional[Iterable[str]] = None):
        """The agents of `units` learn of the application's latest charm (see `upgrade_charm`).

        Without `units`: every live unit not told yet.
        """
        self._check_open()
        if units is None:
            units = [n for n in self.model.charm_known if self.model.units[n].alive]
        for name in units:
            self._live_unit(name)
            self.model.charm_known.pop(name, None)
        self._sched.wake_all()

    def migrate(self, to: Optional[JujuProfile] = None, agents_after: Optional[float] = 60.0):
        """Migrate the model from its Juju 3 controller to a Juju 4 one (`juju migrate`).

        Refused while a unit is upgrading. The agents finish the hooks they
        run, then the model runs on the 4.x controller with its 3.x agents
        (leader settings gone, `leader-set` storing nothing, a burst of
        hooks), and `agents_after` simulated seconds later (None: never, as
        before Juju 4.0.3 until `juju upgrade-model`) the agents run as 4.x
        ones under `to` (default: `profile.JUJU_4`). See `jujusim.migration`;
        `migration_history` records each stage.
        """
        self._check_open()
        Migration(self, to or JUJU_4, agents_after).start()

    def run_action(self, unit: str, name: str, params: Optional[dict] = None) -> str:
        """Queue an action on a unit; returns its id (see `action()`)."""
        self._check_open()
        self._live_unit(unit)
        if name not in self._charm.action_defaults:
            raise SimulationError("charm %s has no action %r" % (self._charm.name, name))
        merged = copy.deepcopy(self._charm.action_defaults[name])
        merged.update(copy.deepcopy(params or {}))
        action_id = str(self._next_action)
        self._next_action += 1
        self.model.actions[action_id] = ActionState(
            id=action_id, unit=unit, name=name, params=merged
        )
        self._sched.wake(unit)
        return action_id

    def schedule(self, at: float, operation: str, *args, **kwargs):
        """Run a scenario operation (e.g. 'remove_unit') at simulated time `at`."""
        self._check_open()
        allowed = (
            "set_config",
            "add_unit",
            "remove_unit",
            "remove_leader",
            "expire_lease",
            "fail_next_hook",
            "upgrade_charm",
            "deliver_charm",
            "migrate",
            "run_action",
            "set_clock_skew",
            "write_relation_settings",
            "write_leader_settings",
            "write_app_data",
        )
        if operation not in allowed:
            raise SimulationError("cannot schedule %r: use one of %s" % (operation, allowed))
        if at < self.now:
            raise SimulationError(
                "cannot schedule %s at %.3f: the clock is at %.3f" % (operation, at, self.now)
            )
        args = copy.deepcopy(args)
        kwargs = copy.deepcopy(kwargs)
        method = getattr(self, operation)
        self._sched.at(at, operation, lambda: method(*args, **kwargs))

    # ------------------------------------------------------------------
    # Accessors (copies; the model stays the simulator's)

    @property
    def state(self) -> ModelState:
        return self.model.copy()

    @property
    def leader(self) -> Optional[str]:
        return self.model.leader

    @property
    def units(self) -> List[str]:
        return self.model.live_units()

    def leader_settings(self) -> Dict[str, str]:
        return dict(self.model.leader_settings)

    def app_data(self, relation: Optional[str] = "coordinator") -> Dict[str, str]:
        """The committed application databag of the peer relation `relation` (name or id)."""
        return dict(self.model.relations[self._rid(relation)].app_settings.data)

    @property
    def app_data_history(self) -> List[tuple]:
        """[(time, settings)] at each committed change of the coordinator relation's app bag."""
        return self.app_data_history_of("coordinator")

    def app_data_history_of(self, relation: Optional[str] = None) -> List[tuple]:
        """[(time, settings)] at each committed change of `relation`'s application databag."""
        rid = None
        for candidate, rel in sorted(self.model.relations.items()):
            if relation is None or relation in (candidate, rel.name):
                rid = candidate
                break
        if rid is None:
            return []
        return self._agents.app_history.setdefault(rid, [])

    def _rid(self, relation: Optional[str]) -> str:
        for rid, rel in sorted(self.model.relations.items()):
            if relation is None or relation in (rid, rel.name):
                return rid
        raise SimulationError(
            "no peer relation %r (have: %s)"
            % (relation, ", ".join(self.model.relations) or "none")
        )

    def relation_settings(self, unit: str, relation: Optional[str] = None) -> Dict[str, str]:
        rel = self.model.relations[self._rid(relation)]
        record = rel.settings.get(unit)
        if record is None:
            raise SimulationError("unit %s has no settings in %s" % (unit, rel.id))
        return dict(record.data)

    def relation_data(self, relation: Optional[str] = None) -> Dict[str, Dict[str, str]]:
        """Committed settings of the units in the relation's scope.

        (Settings of units that have left stay readable by name, with
        `relation_settings`, as Juju keeps them for the relation's lifetime.)
        """
        rel = self.model.relations[self._rid(relation)]
        return {u: dict(r.data) for u, r in rel.settings.items() if u in rel.scope}

    def unit_dir(self, unit: str) -> str:
        if unit not in self.model.units:
            raise SimulationError("no unit %r" % unit)
        return self.model.units[unit].charm_dir

    def flags(self, unit: str) -> List[str]:
        """charms.reactive flags of the unit, read from its .unit-state.db."""
        return charmdir.read_flags(self.unit_dir(unit))

    def unit_kv(self, unit: str) -> Dict[str, object]:
        return charmdir.read_kv(self.unit_dir(unit))

    def status(self, unit: str):
        u = self.model.units[unit]
        return u.workload_status, u.workload_message

    def in_error(self, unit: str) -> Optional[str]:
        spec = self.model.units[unit].error_hook
        return spec.name if spec is not None else None

    def action(self, action_id: str) -> ActionState:
        return copy.deepcopy(self.model.actions[action_id])

    def tool_call_counts(self) -> List[tuple]:
        """(unit, hook, context id, number of tool calls) per hook run, in order."""
        counts = Counter(c.context_id for c in self.tool_calls)
        return [
            (r.unit, r.hook, r.context_id, counts.get(r.context_id, 0))
            for r in self.trace
            if r.event == "begin"
        ]

    def hooks(self, unit: Optional[str] = None, events=("commit", "fail")) -> List[tuple]:
        """(unit, hook, remote unit, event) for each finished hook, in order."""
        return [
            (r.unit, r.hook, r.remote_unit, r.event)
            for r in self.trace
            if r.event in events and (unit is None or r.unit == unit)
        ]

    # ------------------------------------------------------------------

    def close(self):
        if self._closed:
            return
        self._closed = True
        driver = getattr(self, "_driver", None)
        if driver is not None:
            driver.close()
        clocks = getattr(self, "_clocks", None)
        if clocks is not None:
            clocks.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_changes(changes) -> None:
    """Settings changes must map string keys to strings (or None, to delete)."""
    if not isinstance(changes, dict):
        raise SimulationError("settings changes must be a dict, got %r" % (changes,))
    for key, value in changes.items():
        if not isinstance(key, str) or not key:
            raise SimulationError("a settings key must be a non-empty string, got %r" % (key,))
        if value is not None and not isinstance(value, str):
            raise SimulationError(
                "settings value of %r must be a string or None, got %r" % (key, value)
            )
