"""The simulation: a seeded discrete-event scheduler driving real hook processes.

Time is simulated. Every unit runs at most one hook at a time; units run
concurrently in simulated time. In real time only one hook process advances
at any moment: the others wait for the answer to a tool call. The event queue
holds, in simulated-time order (ties broken by the seeded RNG):

* ``wake``  - a unit may start its next hook (chosen by `agent.next_hook` at
  that moment: level-triggered);
* ``tool``  - a tool call a hook process has made, to be served at that time;
* ``exit``  - a hook process has ended: commit (exit 0) or fail;
* ``timer`` - retries, update-status, elections, scheduled scenario events.

A hook's simulated clock advances by the cost model: start-up cost before its
first tool call, per-call latency between calls, ``sim-journal --duration``,
and an exit cost before its commit, each with seeded jitter. After serving a
call the simulator lets that process run (in real time) until it makes its
next call or exits, then pops the next event, so hooks of different units
interleave between their begin and their commit exactly as their simulated
times say. Given a seed and deterministic charms, the run is deterministic.
"""

from __future__ import annotations

import copy
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from typing import Dict, List, Optional

from . import charmdir
from .agent import UnitAgents
from .backends import BACKENDS, BOOTSTRAP_DIR, HookProcess
from .context import HookContext
from .leadership import Leadership
from .model import (
    ActionState,
    CostModel,
    HookLoopError,
    HookProcessError,
    HookRecord,
    HookSpec,
    JournalEntry,
    LogRecord,
    ModelState,
    RelationState,
    SimulationError,
    StatusRecord,
    ToolCallRecord,
    UnitState,
)
from .scheduler import Scheduler
from .tools import TOOLS, run_tool

CLOCK_EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z: simulated time 0 in hook processes
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FAULT_POINTS = ("journal-end", "next-tool-call", "first-tool-call")
# Also accepted: "tool:<name>", the next call of that hook tool (e.g. "tool:relation-set").


class _ActiveHook(object):
    def __init__(self, unit: str, spec: HookSpec, ctx: HookContext, clock: float):
        self.unit = unit
        self.spec = spec
        self.ctx = ctx
        self.clock = clock
        self.proc: Optional[HookProcess] = None
        self.outstanding: List[tuple] = []
        self.rc: Optional[int] = None
        self.out_path = ""
        self.out_offset = 0
        self.killed = False
        self.cpu: Optional[float] = None


class Simulation(object):
    """A Juju application of N units running a real charm's hooks.

    ``Simulation(charm_dir, units=3, seed=0, workdir=None, config=None,
    backend='exec')``; see the package docstring for the full API.
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
        juju_version: str = "2.9.49",
        shim: str = "auto",
        clock_epoch: float = CLOCK_EPOCH,
        clock_skew: Optional[Dict[str, float]] = None,
    ):
        if not isinstance(units, int) or units < 1:
            raise SimulationError("a simulation needs at least one unit, got %r" % (units,))
        if shim not in ("auto", "c", "python"):
            raise SimulationError("shim must be 'auto', 'c' or 'python', got %r" % (shim,))
        self._shim_kind = shim
        if backend not in BACKENDS:
            raise SimulationError(
                "unknown backend %r: use one of %s" % (backend, sorted(BACKENDS))
            )
        self._charm = charmdir.load_charm(charm_dir)
        if not _is_number(clock_epoch) or clock_epoch < 0:
            raise SimulationError(
                "clock_epoch must be a Unix time in seconds, got %r" % (clock_epoch,)
            )
        self.clock_epoch = clock_epoch
        self._epoch_ns = int(round(clock_epoch * 1e9))
        config = copy.deepcopy(dict(config or {}))
        unknown = sorted(set(config) - set(self._charm.config_defaults))
        if unknown:
            raise SimulationError(
                "config option(s) %s not in %s/config.yaml"
                % (", ".join(unknown), self._charm.path)
            )
        self._clock_skew: Dict[str, float] = {}
        self._clock_fds: Dict[str, int] = {}
        for name, seconds in dict(clock_skew or {}).items():
            self._check_skew(name, seconds, application or self._charm.name)
            self._clock_skew[name] = float(seconds)
        self.seed = seed
        self._rng = random.Random(seed)
        self.costs = copy.deepcopy(costs) if costs is not None else CostModel()
        self.update_status = update_status
        self.hook_timeout = hook_timeout
        self.juju_version = juju_version
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

        # Side channels.
        self.trace: List[HookRecord] = []
        self.tool_calls: List[ToolCallRecord] = []
        self.logs: List[LogRecord] = []
        self.status_history: List[StatusRecord] = []
        self.journal: List[JournalEntry] = []

        self._sched = Scheduler(self.model, self._rng, self.costs)
        self._sched.on("wake", self._on_wake)
        self._sched.on("tool", lambda payload: self._serve(*payload))
        self._sched.on("exit", self._finish)
        self._active: Dict[str, _ActiveHook] = self._sched.running
        self._leadership = Leadership(self.model, self._sched)
        self._agents = UnitAgents(self.model, self._sched, self._charm.path, update_status)
        # (simulated time, leader or None) at each change of leader, and
        # (time, settings) at each change of the leader settings.
        self.leader_history: List[tuple] = self._leadership.history
        self.leader_settings_history: List[tuple] = self._leadership.settings_history
        # (time, unit, len(leader_history) then) each time a leader's agent
        # lost the ability to renew its lease (an honoured expiry began).
        self.renewal_lost_history: List[tuple] = self._leadership.renewal_lost_history
        self._by_ctx: Dict[str, _ActiveHook] = {}
        self._by_proc: Dict[int, _ActiveHook] = {}
        self._faults: Dict[str, tuple] = {}
        self._next_action = 1
        self._closed = False

        self._sockdir = tempfile.mkdtemp(prefix="jsim")
        self.socket_path = os.path.join(self._sockdir, "agent.socket")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.socket_path)
        self._listener.listen(64)
        self._listener.setblocking(False)
        self.tools_dir = os.path.join(self.workdir, "sim", "tools")
        os.makedirs(os.path.join(self.workdir, "sim", "clock"), exist_ok=True)
        self._bin_dir = os.path.join(self.workdir, "sim", "bin")
        self._install_tools()
        self._backend = BACKENDS[backend](self._python, list(TOOLS), self.tools_dir)
        self.backend = backend
        try:
            self._backend.start()
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

    def _install_tools(self):
        os.makedirs(self.tools_dir, exist_ok=True)
        os.makedirs(self._bin_dir, exist_ok=True)
        shim = None if self._shim_kind == "python" else _compiled_shim()
        if shim is None and self._shim_kind == "c":
            raise SimulationError("cannot compile the C tool shim (no working cc)")
        target = os.path.join(self.tools_dir, ".jujusim-shim")
        if shim is not None:
            shutil.copy2(shim, target)
        else:
            with open(os.path.join(BOOTSTRAP_DIR, "shim.py")) as f:
                body = f.read()
            with open(target, "w") as f:
                f.write("#!%s -SI\n" % self._python + body)
            os.chmod(target, 0o755)
        for name in TOOLS:
            os.link(target, os.path.join(self.tools_dir, name))
        for name in ("python3", "python"):
            path = os.path.join(self._bin_dir, name)
            with open(path, "w") as f:
                f.write('#!/bin/sh\nexec %s "$@"\n' % _sh_quote(self._python))
            os.chmod(path, 0o755)

    def _check_skew(self, name, seconds, app: str):
        prefix = app + "/"
        if (
            not isinstance(name, str)
            or not name.startswith(prefix)
            or not name[len(prefix) :].isdigit()
        ):
            raise SimulationError(
                "clock skew for %r: not a unit name of application %s" % (name, app)
            )
        if not _is_number(seconds) or seconds != seconds or abs(seconds) == float("inf"):
            raise SimulationError(
                "clock skew for %s must be a number of seconds, got %r" % (name, seconds)
            )

    def wall_clock_ns(self, unit: str) -> int:
        """The unit's simulated wall time now, in Unix nanoseconds (epoch + now + skew)."""
        return self._epoch_ns + int(round((self.now + self._clock_skew.get(unit, 0.0)) * 1e9))

    def wall_clock(self, unit: str) -> float:
        """The unit's simulated wall time now, in Unix seconds (what time.time() reads)."""
        return self.wall_clock_ns(unit) / 1e9

    def _tell_time(self, unit: str) -> int:
        """Write the unit's current wall time into its clock file; return it."""
        value = self.wall_clock_ns(unit)
        fd = self._clock_fds.get(unit)
        if fd is None:
            path = self._clock_path(unit)
            fd = self._clock_fds[unit] = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, struct.pack(">q", value), 0)
        return value

    def _clock_path(self, unit: str) -> str:
        return os.path.join(self.workdir, "sim", "clock", unit.replace("/", "-"))

    def _unit_root(self, name: str) -> str:
        return os.path.join(
            self.workdir, "var", "lib", "juju", "agents", "unit-" + name.replace("/", "-")
        )

    def _create_unit(self) -> str:
        n = self.model.next_unit_number
        self.model.next_unit_number += 1
        name = "%s/%d" % (self.model.application, n)
        root = self._unit_root(name)
        charm = os.path.join(root, "charm")
        os.makedirs(charm)
        tools = os.path.join(self.workdir, "var", "lib", "juju", "tools", "machine-%d" % n)
        os.makedirs(tools, exist_ok=True)
        jujud = os.path.join(tools, "jujud")
        with open(jujud, "w") as f:
            f.write("#!/bin/sh\necho %s-ubuntu-amd64\n" % self.juju_version)
        os.chmod(jujud, 0o755)
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

    def _on_wake(self, name: str):
        unit = self.model.units[name]
        if name in self._active or not unit.alive:
            return
        spec = self._agents.next_hook(unit)
        if spec is None:
            return
        if self._sched.budget_spent():
            self._sched.wake(name)
            raise HookLoopError(self._loop_report())
        self._begin(unit, spec)

    def _loop_report(self) -> str:
        begins = [r for r in self.trace if r.event == "begin"][-400:]
        counts = Counter((r.unit, r.hook, r.remote_unit) for r in begins)
        top = ", ".join(
            "%s %s%s x%d" % (u, h, " (remote %s)" % r if r else "", n)
            for (u, h, r), n in counts.most_common(6)
        )
        return (
            "the model did not quiesce: hook budget exhausted at t=%.1fs after %d hooks; "
            "most repeated recent hooks: %s" % (self.now, self._sched.hooks_begun, top)
        )

    # ------------------------------------------------------------------
    # Hook lifecycle

    def _begin(self, unit: UnitState, spec: HookSpec):
        ctx_id = "%s-%s-%d" % (unit.name, spec.name, self._rng.getrandbits(63))
        self._agents.prepare(unit, spec)
        ctx = HookContext(self, unit.name, spec, ctx_id, unit.charm_dir)
        hook = _ActiveHook(unit.name, spec, ctx, self.now)
        self._sched.begin_hook(unit.name, hook)
        self._by_ctx[ctx_id] = hook
        self.trace.append(
            HookRecord(
                "begin",
                unit.name,
                spec.name,
                spec.remote_unit,
                self.now,
                context_id=ctx_id,
                leader=self.leads(unit.name),
            )
        )
        fault = self._faults.get(unit.name)
        if fault is not None and fault[0] == "first-tool-call":
            self._faults[unit.name] = ("armed-first-call", fault[1], ctx_id)
        path = self._hook_path(unit, spec)
        if path is None:
            hook.rc = 0
            hook.clock = self.now + self._sched.cost(self.costs.hook_exit)
            self._sched.push(hook.clock, "exit", hook)
            return
        hook.clock = self.now + self._sched.cost(self.costs.hook_startup)
        root = self._unit_root(unit.name)
        hook.out_path = os.path.join(root, "hook-output.log")
        hook.out_offset = os.path.getsize(hook.out_path) if os.path.exists(hook.out_path) else 0
        env = self._hook_env(unit, spec, ctx_id)
        # Deviation from Juju, for the simulated wall clock (bootstrap/jujusim_clock.py).
        env["JUJU_SIM_CLOCK"] = str(self._tell_time(unit.name))
        env["JUJU_SIM_CLOCK_FILE"] = self._clock_path(unit.name)
        proc = self._backend.spawn(path, env, unit.charm_dir, hook.out_path)
        hook.proc = proc
        self._by_proc[id(proc)] = hook
        self._drive(hook)

    def _hook_path(self, unit: UnitState, spec: HookSpec) -> Optional[str]:
        dispatch = os.path.join(unit.charm_dir, "dispatch")
        if os.path.isfile(dispatch) and os.access(dispatch, os.X_OK):
            return dispatch
        sub = "actions" if spec.is_action else "hooks"
        path = os.path.join(unit.charm_dir, sub, spec.name)
        return path if os.path.isfile(path) else None

    def _hook_env(self, unit: UnitState, spec: HookSpec, ctx_id: str) -> Dict[str, str]:
        env = {
            "CHARM_DIR": unit.charm_dir,
            "JUJU_CHARM_DIR": unit.charm_dir,
            "JUJU_UNIT_NAME": unit.name,
            "JUJU_MODEL_NAME": self.model.model_name,
            "JUJU_MODEL_UUID": self.model.model_uuid,
            "JUJU_VERSION": self.juju_version,
            "JUJU_CONTEXT_ID": ctx_id,
            "JUJU_AVAILABILITY_ZONE": "zone-%d" % (unit.number % 3 + 1),
            "JUJU_MACHINE_ID": unit.machine,
            "JUJU_PRINCIPAL_UNIT": "",
            "JUJU_AGENT_SOCKET_ADDRESS": self.socket_path,
            "JUJU_AGENT_SOCKET_NETWORK": "unix",
            "PATH": "%s:%s:%s" % (self.tools_dir, self._bin_dir, SYSTEM_PATH),
            "LANG": "C.UTF-8",
            # Deviation from Juju, for the machine quirks only (bootstrap/sitecustomize.py).
            "PYTHONPATH": BOOTSTRAP_DIR,
        }
        if spec.is_action:
            env["JUJU_DISPATCH_PATH"] = "actions/" + spec.name
            env["JUJU_ACTION_NAME"] = spec.name
            env["JUJU_ACTION_UUID"] = spec.action_id
        else:
            env["JUJU_DISPATCH_PATH"] = "hooks/" + spec.name
            env["JUJU_HOOK_NAME"] = spec.name
        if spec.relation_id:
            env["JUJU_RELATION"] = spec.relation
            env["JUJU_RELATION_ID"] = spec.relation_id
            env["JUJU_REMOTE_APP"] = self.model.application
            if spec.remote_unit:
                env["JUJU_REMOTE_UNIT"] = spec.remote_unit
            if spec.departing_unit:
                env["JUJU_DEPARTING_UNIT"] = spec.departing_unit
        return env

    # -- waiting for the one running process -------------------------------------------------

    def _drive(self, hook: _ActiveHook):
        """Let `hook`'s process run until it asks for a tool or exits."""
        deadline = time.monotonic() + self.hook_timeout
        while not hook.outstanding and hook.rc is None:
            if self._pump_io(deadline - time.monotonic()):
                continue
            if time.monotonic() > deadline:
                raise HookProcessError(
                    "hook %s of %s neither called a tool nor exited within %.0f s of real time"
                    % (hook.spec.describe(), hook.unit, self.hook_timeout)
                )

    def _pump_io(self, timeout: float) -> bool:
        progressed = False
        for proc, rc in self._backend.collect_exits():
            self._on_exit(proc, rc)
            progressed = True
        if progressed:
            return True
        fds, poll = self._backend.wait_fds()
        wait = max(0.0, timeout)
        if poll is not None:
            wait = min(wait, poll)
        ready, _, _ = select.select([self._listener] + fds, [], [], wait)
        if self._listener in ready:
            while True:
                try:
                    conn, _ = self._listener.accept()
                except (BlockingIOError, InterruptedError):
                    break
                self._on_request(conn)
                progressed = True
        for proc, rc in self._backend.collect_exits():
            self._on_exit(proc, rc)
            progressed = True
        return progressed

    def _on_request(self, conn: socket.socket):
        conn.setblocking(True)
        conn.settimeout(30)
        try:
            fields = _read_request(conn)
        except (OSError, ValueError):
            conn.close()
            return
        ctx_id = fields[0].decode()
        hook = self._by_ctx.get(ctx_id)
        if hook is not None and hook.killed:
            conn.close()
            return
        if hook is None:
            _reply(conn, 1, b"", ('ERROR context "%s" is not running\n' % ctx_id).encode())
            return
        hook.outstanding.append((conn, fields))
        self._sched.push(
            hook.clock + self._sched.cost(self.costs.tool_call), "tool", (hook, conn, fields)
        )

    def _on_exit(self, proc: HookProcess, rc: int):
        hook = self._by_proc.pop(id(proc), None)
        if hook is None:
            return
        hook.rc = rc
        hook.cpu = proc.cpu
        hook.clock = max(hook.clock, self.now) + self._sched.cost(self.costs.hook_exit)
        self._sched.push(hook.clock, "exit", hook)

    def _serve(self, hook: _ActiveHook, conn: socket.socket, fields: list):
        if hook.killed:
            return  # the unit vanished (force removal); the connection is closed
        hook.outstanding.remove((conn, fields))
        hook.clock = self.now
        if hook.rc is not None:
            conn.close()
            return
        hook.ctx.cwd = os.fsdecode(fields[1]) or hook.ctx.cwd
        argv = tuple(os.fsdecode(f) for f in fields[3:])
        if self._fault_before(hook, argv):
            self._kill(hook, conn, argv)
            return
        given = _settings_input(hook.ctx.cwd, argv, fields[2])
        rc, out, err = run_tool(hook.ctx, argv, fields[2])
        self.tool_calls.append(
            ToolCallRecord(
                hook.unit, hook.spec.name, hook.ctx.context_id, argv, rc, self.now, given, out, err
            )
        )
        if argv[:2] == ("sim-journal", "end") and rc == 0 and self._fault_after_end(hook, argv):
            self._kill_process(hook, conn)
            return
        self._tell_time(hook.unit)
        _reply(conn, rc, out, err)
        self._drive(hook)

    def _kill(self, hook: _ActiveHook, conn: socket.socket, argv: tuple):
        self.tool_calls.append(
            ToolCallRecord(hook.unit, hook.spec.name, hook.ctx.context_id, argv, -9, self.now)
        )
        self._kill_process(hook, conn)

    def _kill_process(self, hook: _ActiveHook, conn: socket.socket):
        # Kill while the process still waits for this answer, so it can run no
        # more code (and make no more tool calls) before it dies.
        hook.killed = True
        self._backend.kill(hook.proc)
        conn.close()
        self._drive(hook)

    def _finish(self, hook: _ActiveHook):
        unit = self.model.units[hook.unit]
        self._sched.end_hook(hook.unit)
        del self._by_ctx[hook.ctx.context_id]
        for conn, _ in hook.outstanding:
            conn.close()
        hook.outstanding = []
        output = ""
        if hook.out_path:
            with open(hook.out_path, "rb") as f:
                f.seek(hook.out_offset)
                output = f.read().decode("utf-8", "replace")
        spec, rc = hook.spec, hook.rc
        self._agents.finish(unit, spec, rc, hook.ctx)
        self.trace.append(
            HookRecord(
                "commit" if rc == 0 else "fail",
                unit.name,
                spec.name,
                spec.remote_unit,
                self.now,
                rc,
                hook.ctx.context_id,
                output,
                cpu=hook.cpu,
            )
        )
        self._sched.wake(unit.name)

    # -- fault injection -----------------------------------------------------------------

    def _fault_before(self, hook: _ActiveHook, argv: tuple) -> bool:
        fault = self._faults.get(hook.unit)
        if fault is None:
            return False
        if fault[0].startswith("tool:") and argv[:1] == (fault[0][5:],):
            del self._faults[hook.unit]
            return True
        if fault[0] == "armed-first-call" and fault[2] == hook.ctx.context_id:
            del self._faults[hook.unit]
            return True
        if fault[0] == "armed-next-call" and fault[2] == hook.ctx.context_id:
            del self._faults[hook.unit]
            return True
        return False

    def _fault_after_end(self, hook: _ActiveHook, argv: tuple) -> bool:
        fault = self._faults.get(hook.unit)
        if fault is None or (fault[1] is not None and argv[2:3] != (fault[1],)):
            return False
        if fault[0] == "journal-end":
            del self._faults[hook.unit]
            return True
        if fault[0] == "next-tool-call":
            self._faults[hook.unit] = ("armed-next-call", fault[1], hook.ctx.context_id)
        return False

    # ------------------------------------------------------------------
    # Called by HookContext (tool implementations)

    def relation_key(self, rid: str) -> str:
        name = self.model.relations[rid].name
        return "%s:%s" % (self.model.application, name)

    def write_leader_settings(self, changes: Dict[str, Optional[str]]):
        """Apply `changes` (key -> str, or None to delete) to the leader settings.

        What a successful ``leader-set`` does (tool implementations call it):
        the settings change at once and, if anything really changed, the
        version is bumped and leader-settings-changed becomes due on every
        non-leader (not on the leader). Called by a test it is also a fault
        injection: whatever the leader would have written, garbage included.
        """
        self._check_open()
        _check_changes(changes)
        self._leadership.write_settings(changes)

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

    def record_log(self, ctx: HookContext, level: str, message: str):
        self.logs.append(LogRecord(ctx.unit_name, ctx.spec.name, level, message, self.now))

    def record_status(self, ctx: HookContext, status: str, message: str, application: bool):
        if application:
            self.model.app_status, self.model.app_message = status, message
            who = self.model.application
        else:
            unit = self.model.units[ctx.unit_name]
            unit.workload_status, unit.workload_message = status, message
            who = ctx.unit_name
        self.status_history.append(StatusRecord(who, status, message, self.now))

    def record_journal(self, ctx: HookContext, event: str, lock: str, duration: float):
        self.journal.append(JournalEntry(ctx.unit_name, lock, event, self.now, ctx.spec.name))
        if duration:
            self._by_ctx[ctx.context_id].clock += duration

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
        self._faults.pop(unit.name, None)
        for rel in self.model.relations.values():
            if unit.name in rel.scope:
                rel.scope = [u for u in rel.scope if u != unit.name]
        hook = self._active.get(unit.name)
        if hook is not None:
            hook.killed = True
            for conn, _ in hook.outstanding:
                conn.close()
            hook.outstanding = []
            if hook.proc is not None and hook.rc is None:
                self._backend.kill(hook.proc)
                self._drive(hook)
            # Whatever the process did, nothing of it is committed.
            hook.rc = -signal.SIGKILL

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
        point = after_journal_end
        if point is True:
            point = "journal-end"
        elif point is False:
            point = "first-tool-call"
        if point not in FAULT_POINTS and not (
            isinstance(point, str) and point.startswith("tool:") and len(point) > 5
        ):
            raise SimulationError(
                "unknown failure point %r: use one of %s" % (point, FAULT_POINTS)
            )
        self._faults[unit] = (point, lock)

    def set_clock_skew(self, unit: str, seconds: float):
        """Set how far the unit's wall clock is ahead of (or, negative, behind) the model's.

        Hook processes of the unit read epoch + simulated time + skew from
        time.time() and datetime.now() from their next tool call on (a hook's
        clock never goes backwards, so a negative step shows from its next hook).
        """
        self._check_open()
        if unit not in self.model.units:
            raise SimulationError("no unit %r in the model" % (unit,))
        self._check_skew(unit, seconds, self.model.application)
        self._clock_skew[unit] = float(seconds)

    def upgrade_charm(self, new_charm_dir: str):
        """Deploy a new charm revision; each unit runs upgrade-charm then config-changed."""
        self._check_open()
        info = charmdir.load_charm(new_charm_dir)
        if info.name != self._charm.name:
            raise SimulationError(
                "cannot upgrade charm %r to a different charm %r" % (self._charm.name, info.name)
            )
        if sorted(info.peers) != sorted(self._charm.peers):
            raise SimulationError("jujusim does not simulate adding or removing peer relations")
        self._charm = info
        self.model.charm_version += 1
        self._agents.add_charm(self.model.charm_version, info.path)
        config = dict(info.config_defaults.items())
        config.update({k: v for k, v in self.model.config.items() if k in config})
        if config != self.model.config:
            self.model.config = config
            self.model.config_version += 1
        self._sched.wake_all()

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
            "run_action",
            "set_clock_skew",
            "write_relation_settings",
            "write_leader_settings",
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
        self._sched.push(at, "timer", (operation, lambda: method(*args, **kwargs)))

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
        backend = getattr(self, "_backend", None)
        if backend is not None:
            # Hooks paused mid-run (run_until stopped inside them) end here.
            for hook in list(self._active.values()):
                if hook.proc is not None:
                    try:
                        backend.kill(hook.proc)
                    except OSError:
                        pass
            backend.close()
        for hook in list(self._active.values()):
            for conn, _ in hook.outstanding:
                conn.close()
        self._listener.close()
        for fd in getattr(self, "_clock_fds", {}).values():
            os.close(fd)
        self._clock_fds = {}
        shutil.rmtree(self._sockdir, ignore_errors=True)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _settings_input(cwd: str, argv: tuple, stdin: bytes) -> bytes:
    """What a tool call reads as settings: stdin for ``--file -``, else the named file."""
    path = None
    for i, arg in enumerate(argv[1:], 1):
        if arg == "--file" and i + 1 < len(argv):
            path = argv[i + 1]
        elif arg.startswith("--file="):
            path = arg[len("--file=") :]
    if path is None:
        return b""
    if path == "-":
        return stdin
    try:
        with open(os.path.join(cwd, path), "rb") as f:
            return f.read()
    except OSError:
        return b""


# ----------------------------------------------------------------------
# Wire protocol (server side) and the shim build


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = conn.recv(min(n, 1 << 20))
        if not chunk:
            raise ValueError("short read")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_request(conn: socket.socket) -> List[bytes]:
    head = _recv_exact(conn, 8)
    if head[:4] != b"JSM1":
        raise ValueError("bad magic")
    (count,) = struct.unpack(">I", head[4:])
    fields = []
    for _ in range(count):
        (n,) = struct.unpack(">I", _recv_exact(conn, 4))
        fields.append(_recv_exact(conn, n))
    if len(fields) < 4:
        raise ValueError("short request")
    return fields


def _reply(conn: socket.socket, rc: int, out: bytes, err: bytes):
    try:
        conn.sendall(struct.pack(">iI", rc, len(out)) + out + struct.pack(">I", len(err)) + err)
    except OSError:
        pass
    finally:
        conn.close()


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


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


_SHIM_CACHE: Dict[str, Optional[str]] = {}


def _compiled_shim() -> Optional[str]:
    """Compile bootstrap/shim.c once per source version; None without a C compiler."""
    src = os.path.join(BOOTSTRAP_DIR, "shim.c")
    with open(src, "rb") as f:
        data = f.read()
    import hashlib

    digest = hashlib.sha256(data).hexdigest()[:16]
    if digest in _SHIM_CACHE:
        return _SHIM_CACHE[digest]
    cache_dir = os.path.join(tempfile.gettempdir(), "jujusim-shim-%d" % os.getuid())
    target = os.path.join(cache_dir, "shim-" + digest)
    if not os.path.exists(target):
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            _SHIM_CACHE[digest] = None
            return None
        os.makedirs(cache_dir, exist_ok=True)
        tmp = "%s.%d.tmp" % (target, os.getpid())
        result = subprocess.run(
            [cc, "-O2", "-o", tmp, src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        if result.returncode != 0:
            _SHIM_CACHE[digest] = None
            return None
        os.replace(tmp, target)
    _SHIM_CACHE[digest] = target
    return target
