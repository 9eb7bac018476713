"""jujusim: a multi-unit Juju model simulator that runs real charms' hooks.

It runs ``hooks/<name>`` of a (built) charm for every unit of one application,
with the environment Juju gives a hook; the real charms.reactive and
charmhelpers run inside. Only Juju is fake: the hook tools (relation-get,
leader-set, ...) are served by this package over a Unix socket, with the
semantics listed below (the project's Juju semantics notes, checked
against Juju's source).

Usage::

    from jujusim import Simulation
    with Simulation(charm_dir, units=5, seed=1, backend='fork') as sim:
        sim.run_until_quiet()
        sim.set_config(restart_generation=2)
        sim.schedule(sim.now + 5, 'remove_unit', 'app/3')          # clean; force=True: abrupt
        sim.set_clock_skew('app/2', -30.0)
        sim.run_until_quiet()
        assert sim.leader_settings() == {...}
        check_max_concurrency(sim.journal, 1)

Fault injection (ways to break the model on purpose; each can also be
given to ``schedule`` by name):

- ``fail_next_hook(unit, ...)``: kill the unit's next hook (see below).
- ``remove_unit(unit, force=True)``: the unit vanishes mid-hook.
- ``expire_lease(honour_guarantee=False, successor=None)``: leadership
  moves without the leader leaving: at once (a controller fault: harsher
  than Juju's promise that is-leader true holds for 30 s), or with
  ``honour_guarantee=True`` when that promise ends (the leader can no
  longer renew: its is-leader says false at once); ``successor`` names
  the unit that claims the lease as soon as it is free.
- ``set_clock_skew(unit, seconds)``: the unit's wall clock is wrong.
- ``write_relation_settings(unit, changes, relation=None)``: a buggy peer's
  committed write: ``changes`` (key -> str, None deletes) land in ``unit``'s
  settings of the peer relation as if a hook of ``unit`` had committed them
  (version bump, relation-changed due on every other unit with ``unit`` as
  remote; a write that changes nothing triggers nothing). Use it for garbage
  such as ``{'coordinator': 'not json'}``.
- ``write_leader_settings(changes)``: what the leader's ``leader-set``
  commits (leader-settings-changed due on every non-leader), e.g. garbage
  leader settings or grants for units that do not exist.
- ``write_app_data(changes, relation='coordinator')``: a committed change
  to the peer relation's application databag, as if the leader's hook had
  made it (an application-level relation-changed due on every unit, the
  leader included; nothing if nothing changed).

Modules: `sim` (`Simulation`: the public facade over the rooms below),
`scheduler` (the seeded discrete-event queue, wakes, timers, the run loops),
`agent` (the unit agent's state machine: which hook is next, prepare, commit
or fail, the relation cache), `leadership` (leader, lease terms, elections,
expiry, is-leader promises, leader settings), `driver` (hook processes
through a backend, the tool socket, faults, each hook's begin and end),
`context` (per-hook view: buffers, caches, snapshots; the tool sinks),
`profile` (the Juju-version seam: which hook tools exist, which hooks fire,
a hook's environment, JUJU_VERSION), `migration` (a 3.6 model migrated to a
Juju 4 controller, then its agents upgraded), `clock` (the units' simulated wall
clocks), `model` (plain-data state and side-channel records), `tools` (one
function per hook tool), `backends` (exec and fork), `charmdir` (unit charm
dirs, unitdata/flags), `invariants` (checks over the trace), `scenario`
(declarative form), `testing` (helpers for the fixture charms), `bootstrap/`
(what runs inside hook processes: tool shim, sitecustomize with the machine
quirks, fork zygote). For charm authors (`make simulate`, ``python -m
jujusim``): `cli` (triggers, faults, the report), `verdict` (guarded work and
requests read from the layer's flags and log, no probe), `wheelhouse` (the
charm's wheelhouse installed for its hooks; layer:basic's machine bootstrap
left out).

Semantics implemented (juju-semantics.md):
- relation-set buffered per hook, committed on exit 0, discarded otherwise;
  own pending writes readable; a commit that changes nothing bumps no version
  and wakes nobody; a real change makes <rel>-relation-changed due on every
  other unit with JUJU_REMOTE_UNIT = writer.
- leader-set immediate, kept on failure, only by the leader (exit 1 message
  as Juju's); a real change makes leader-settings-changed due on every
  non-leader; leader-get snapshot per hook (refreshed by the hook's own
  leader-set); is-leader false stays false within a hook.
- the application databag of each peer relation (every profile; sources in
  context.py, agent.py, tools.py and docs/simulator.md): ``relation-get
  --app`` defaults to JUJU_REMOTE_APP ("no unit or application specified",
  exit 2, without one); the leader reads its writable copy (committed data
  at first access plus its own writes), a non-leader a snapshot kept for
  the hook; ``relation-set --app`` from a non-leader fails at once ("cannot
  write relation settings", exit 1); the leader's writes are buffered and
  commit on exit 0 with the unit writes and ports in one piece, which Juju
  refuses whole (the hook fails and is retried) if the writes change the
  bag and the unit no longer holds the lease at commit (`commit_refusals`);
  a committed change makes <rel>-relation-changed due on every unit (on
  3.6 and 4 not on the leader while it leads: it runs it once deposed),
  with JUJU_REMOTE_UNIT present but empty, coalesced per
  unit by the bag version it last saw, chosen after departures and before
  joins; none for a bag never written. Version: a revision per changing
  commit (2.9, 3.6) or a content hash (4: A->B->A unseen fires nothing).
- Juju-version profiles (`profile`, `by_name('2.9' | '3.6' | '4')`): Juju 4
  has no leader-get/leader-set on PATH (a hook calling one fails as for a
  missing executable: FileNotFoundError, exit 127 from a shell), never runs
  leader-settings-changed (a deposed leader resigns without a hook), keeps
  no private-address in relation data; JUJU_VERSION is 2.9.49, 3.6.12 or
  4.0.1.
- per-unit relation cache: a member's settings are cached across hooks and
  refreshed only by a joined/changed hook for that member; non-member
  settings are cached for one hook.
- level-triggered hook choice with coalescing, Juju's priority order, the
  startup sequence (install, relation-created, leader-elected or
  leader-settings-changed, config-changed, start, joined/changed), one
  leader-settings-changed after install on non-leaders, joined(X) then
  changed(X), departure on both sides with JUJU_DEPARTING_UNIT, a unit's
  settings readable by name for the relation's lifetime after it left (as
  Juju's state.RelationUnit.ReadSettings guarantees), no relation-broken
  for peers; goal-state lists the application's units (``dying`` once
  their removal begins) and, as Juju's does, no peer relation.
- failure: the unit runs only actions and the retry of the failed hook,
  retried after 5, 10, 20, 40 ... s capped at 300 s of simulated time.
- leadership: seeded initial leader; removal of the leader or lease expiry
  elects another live unit after a seeded delay within the lease (60 s),
  or, with ``expire_lease(successor=...)``, that unit at once;
  the new leader's is-leader is true before its leader-elected; the deposed
  leader gets leader-settings-changed.
- update-status every 300 s +-20 % (seeded) when enabled; a missing hook
  file is a success; upgrade-charm replaces charm files but keeps unit state
  files, then config-changed runs.

Simplified or not simulated (say so in the README):
- One application with its peer relations only: no other applications,
  subordinates, cross-model or non-peer relations; no relation-broken.
  One 3.6-line resolver version skips the application-level
  relation-changed for the current leader on a peer relation (see
  docs/simulator.md); not modelled. relation-get without a unit in
  relation-created still answers "no unit id specified" (Juju would read
  the application bag there).
- Hook environment: as Juju's (section 1), plus JUJU_AGENT_SOCKET_ADDRESS
  and JUJU_AGENT_SOCKET_NETWORK (real Juju names, here the simulator
  socket), PYTHONPATH=<jujusim/bootstrap> (only for the machine quirks and
  the clock in bootstrap/sitecustomize.py), and JUJU_SIM_CLOCK (the begin
  time, Unix ns) and JUJU_SIM_CLOCK_FILE (the unit's clock file, rewritten
  before each tool answer) for the simulated clock. No HOME, no JUJU_API_ADDRESSES,
  JUJU_METER_*, JUJU_SLA, DEBIAN_FRONTEND.
- A unit enters the peer relation's scope as its relation-created hook
  begins (Juju joins the relation, which writes the unit's address
  settings, before it can run relation-created; the exact moment may be
  earlier in Juju). `remove_unit(name)` (juju remove-unit): the others see it depart at
  once (Juju marks a dying unit departing in its relations: their
  relation-list drops it and their departed hooks become due) while the
  unit finishes the hook it is running, never accepts leadership (no
  leader-elected) but still runs leader-settings-changed, skips config hooks,
  runs relation-departed for each remaining peer, leaves the scope, runs
  stop and is gone. A dying unit in error departs no further and keeps retrying its
  failed hook (Juju waits for `juju resolved`); `remove_unit(name,
  force=True)` (--force, or a lost machine) removes a unit, dying or not, at
  once: its running hook is killed (exit -9, nothing committed), it runs no
  more hooks, the others' departed hooks are due at once and its settings
  stay readable. A removed leader resigns
  at once either way. A unit removed before it has started still runs its
  install and stop hooks (Juju skips both for it).
- Leadership: no lease renewal model; `expire_lease()` deposes at once (or,
  with honour_guarantee=True, the leader's is-leader says false from then on
  and the lease lapses 30 s after its last is-leader true) and
  elects another unit after a seeded delay in [0, lease] (a named
  successor at once); a deposed unit
  gets leader-settings-changed (no leader-deposed hook).
- Juju version: `JUJU_2_9` by default (Juju 2.9 to 3.6 machine charms,
  leader settings included; JUJU_VERSION 2.9.49 unless ``juju_version``
  says otherwise), `JUJU_3_6` and `JUJU_4` by ``profile=``. The 4.x
  application databag hash is not Juju's exact bytes, only "same content,
  same version".
- Tools not simulated: network-get, storage-*, payload-*,
  secret-*, state-get/set, credential-get, juju-reboot, pod-spec-set,
  add-metric. unit-get public-address = private address (10.1.x.y).
- Costs: every tool call costs the same latency; the charm's own CPU time
  is not measured (only the cost model advances simulated time).
- Wall clock in hook processes (bootstrap/jujusim_clock.py, installed by
  sitecustomize before anything imports datetime): time.time(),
  time.time_ns(), datetime.datetime.now()/utcnow()/today() (aware too),
  datetime.date.today() and time.localtime()/gmtime()/ctime()/strftime()
  without a time argument read `clock_epoch` (default 2026-01-01T00:00:00Z)
  + the simulated time the unit was last told + its `clock_skew`, plus 1 us
  per read since it was told (reads differ and keep their order). A hook is
  told its begin time and then the time of each of its tool calls, as the
  call is answered; CPU time between calls does not advance its clock.
  `Simulation(..., clock_skew={'app/2': -30.0})` and `set_clock_skew(unit,
  seconds)` skew one unit's clock (it never runs backwards within a process).
  Monotonic clocks (time.monotonic, perf_counter) and non-Python programs
  (`date`) are real. `wall_clock(unit)` gives a unit's clock now.
- fail_next_hook kills the hook process (exit -9); a 'first-tool-call' fault
  armed for a hook that makes no tool call stays armed; 'tool:NAME' kills the
  next hook that calls tool NAME, at that call, before it takes effect.
- Side channels for checkers: `trace` (HookRecord: begin with `leader`, the
  unit's leadership as it began; commit/fail with `cpu`, the hook process's
  CPU seconds from wait4, real not simulated, and `output`, what the hook
  printed), `tool_calls` (ToolCallRecord: argv, the settings input read,
  rc, stdout, stderr), `logs`,
  `status_history`, `journal`, `leader_history` [(time, leader or None)],
  `renewal_lost_history` [(time, unit, len(leader_history) then)]: when a
  leader's agent lost the ability to renew (an honoured expiry),
  `leader_settings_history` [(time, settings)], `app_data_history`
  [(time, settings)] of the coordinator relation's application databag and
  `commit_refusals` [(time, unit, hook, reason)]; `leads(unit)`: whether the
  unit holds the lease and can still renew it (its is-leader says true).
- fork backend: the hook's interpreter is the zygote's Python and the
  pre-imported charms.reactive/charmhelpers are the zygote's copies (a charm
  shipping its own copies in a venv gets the zygote's); `charms.__path__` is
  recomputed from sys.path so the charm's lib/charms/ is found as in exec.
  The start and end callbacks (hookenv.atstart/atexit) that importing
  charms.reactive registers are taken out of a forked hook and registered
  again when the hook first imports charms.reactive, so a hook template that
  registers its own callbacks before that import (layer:basic's) gets them
  in the same order as under exec.
  Only argv-list subprocess calls of a hook tool are routed in-process;
  shell=True, os.system and other programs spawn real processes, which
  reach the same shims on PATH.
"""

from .invariants import (
    InvariantError,
    check_all_requesters_acted,
    check_max_concurrency,
    check_no_granted_flags_at_rest,
    check_quiesced,
    guarded_intervals,
)
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
    SimulationError,
    StatusRecord,
    ToolCallRecord,
    UnitState,
)
from .profile import JUJU_2_9, JUJU_3_6, JUJU_4, JujuProfile, by_name
from .scenario import At, Scenario, ScenarioResult, run_scenario
from .sim import Simulation

__all__ = [
    "ActionState",
    "At",
    "CostModel",
    "HookLoopError",
    "HookProcessError",
    "HookRecord",
    "HookSpec",
    "InvariantError",
    "JUJU_2_9",
    "JUJU_3_6",
    "JUJU_4",
    "JujuProfile",
    "JournalEntry",
    "LogRecord",
    "ModelState",
    "Scenario",
    "ScenarioResult",
    "Simulation",
    "SimulationError",
    "StatusRecord",
    "ToolCallRecord",
    "UnitState",
    "by_name",
    "check_all_requesters_acted",
    "check_max_concurrency",
    "check_no_granted_flags_at_rest",
    "check_quiesced",
    "guarded_intervals",
    "run_scenario",
]
