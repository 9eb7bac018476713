"""Plain-data model of a simulated Juju application, and the side-channel records.

Everything here is a dataclass holding plain values (str, int, float, bool, dict,
list, set, None) so that a whole model can be deep-copied, compared and printed.
The simulator owns one private `ModelState`; accessors hand out deep copies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional


class SimulationError(Exception):
    """An impossible scenario or a misuse of the simulator API."""


class HookLoopError(SimulationError):
    """The model did not quiesce within the hook budget."""


class HookProcessError(SimulationError):
    """A hook process misbehaved in a way Juju would never see (e.g. it hung)."""


# ---------------------------------------------------------------------------
# Hooks


@dataclass(frozen=True)
class HookSpec:
    """One hook (or action) to run on one unit.

    `kind` is the Juju hook kind without the relation prefix ('install',
    'relation-joined', 'leader-elected', 'action', ...); `name` is the executable
    name (`coordinator-relation-joined`, or the action name for actions).
    `version` is the remote state version the hook was chosen for: the
    settings version of `remote_unit` for joined/changed, the leader-settings
    version for leader-settings-changed, the config version for
    config-changed, the charm version for upgrade-charm.
    """

    kind: str
    name: str
    relation: Optional[str] = None
    relation_id: Optional[str] = None
    remote_unit: Optional[str] = None
    departing_unit: Optional[str] = None
    version: Optional[int] = None
    action_id: Optional[str] = None
    # An application-level relation-changed (the application databag changed):
    # the application whose bag it is; `remote_unit` is None then.
    remote_app: Optional[str] = None

    @property
    def is_action(self) -> bool:
        return self.kind == "action"

    def describe(self) -> str:
        text = self.name
        if self.remote_unit:
            text += "(%s)" % self.remote_unit
        return text


# ---------------------------------------------------------------------------
# Model state


@dataclass
class SettingsRecord:
    """One unit's settings in one relation, with Juju's change version."""

    data: Dict[str, str] = field(default_factory=dict)
    version: int = 0


@dataclass
class RelationCache:
    """A unit agent's cache of remote settings for one relation.

    `members` keeps settings of units the agent has joined across hooks
    (None means "read afresh at next access"); `others` keeps settings of
    non-members and is emptied at the start of every hook.
    """

    members: Dict[str, Optional[Dict[str, str]]] = field(default_factory=dict)
    others: Dict[str, Dict[str, str]] = field(default_factory=dict)


@dataclass
class RelationState:
    """A peer relation of the application."""

    id: str  # 'coordinator:0'
    name: str  # 'coordinator'
    interface: str
    scope: List[str] = field(default_factory=list)  # units in scope, sorted
    settings: Dict[str, SettingsRecord] = field(default_factory=dict)
    # The application databag (one per peer relation: the application's own).
    # `version` 0 means never written; then a revision counter (Juju <= 3.6)
    # or a content hash (Juju 4), as the profile says (`profile.app_version`).
    app_settings: SettingsRecord = field(default_factory=SettingsRecord)


@dataclass
class UnitState:
    """One unit: the model's view (alive, leader...) and its agent's local state."""

    name: str
    number: int
    machine: str
    address: str
    charm_dir: str
    alive: bool = True  # False once removed from the model
    dying: bool = False
    # Agent-local state: what the unit agent has seen and done.
    installed: bool = False
    started: bool = False
    stopped: bool = False
    local_leader: bool = False  # the agent has run leader-elected
    leader_settings_seen: Optional[int] = None
    config_seen: Optional[int] = None
    charm_seen: int = 0
    # config-changed queued by upgrade-charm's commit: a pending hook the
    # agent runs before any leadership hook (see `agent.next_hook`).
    config_queued: bool = False
    relations_created: List[str] = field(default_factory=list)
    # relation id -> {remote unit: settings version seen}
    members: Dict[str, Dict[str, int]] = field(default_factory=dict)
    changed_pending: Dict[str, Optional[str]] = field(default_factory=dict)
    # relation id -> application databag version seen (Juju's
    # ApplicationMembers in the relation state; absent: 0, never written)
    app_seen: Dict[str, int] = field(default_factory=dict)
    relation_cache: Dict[str, RelationCache] = field(default_factory=dict)
    update_status_due: bool = False
    # Failure handling
    error_hook: Optional[HookSpec] = None
    error_count: int = 0
    retry_at: Optional[float] = None
    # Workload status, ports, version
    workload_status: str = "unknown"
    workload_message: str = ""
    opened_ports: List[str] = field(default_factory=list)
    workload_version: str = ""


@dataclass
class ActionState:
    """A queued, running or finished action."""

    id: str
    unit: str
    name: str
    params: Dict[str, object]
    status: str = "pending"  # pending, running, completed, failed
    results: Dict[str, object] = field(default_factory=dict)
    message: str = ""


@dataclass
class ModelState:
    """The whole simulated model, as plain data."""

    model_name: str
    model_uuid: str
    application: str
    charm_version: int = 0
    # Units whose agent has not learned of the application's latest charm
    # yet: unit -> the charm version it knows (see `charm_for`).
    charm_known: Dict[str, int] = field(default_factory=dict)
    units: Dict[str, UnitState] = field(default_factory=dict)
    next_unit_number: int = 0
    leader: Optional[str] = None
    # The leader whose agent can no longer renew its lease: its is-leader
    # says false and its agent acts as a minion until the lease lapses.
    renewal_lost: Optional[str] = None
    leader_settings: Dict[str, str] = field(default_factory=dict)
    leader_settings_version: int = 0
    # A Juju 4 controller serving 3.x agents after a migration: leader-set
    # succeeds and stores nothing, leader-get reads nothing (`Simulation.migrate`).
    leader_settings_stub: bool = False
    # The unit agents are stopped for a migration or an agent upgrade: they
    # finish the hook they run and begin no other until it is over.
    agents_stopped: bool = False
    config: Dict[str, object] = field(default_factory=dict)
    config_version: int = 0
    relations: Dict[str, RelationState] = field(default_factory=dict)
    actions: Dict[str, ActionState] = field(default_factory=dict)
    app_status: str = "unknown"
    app_message: str = ""
    clock: float = 0.0

    def copy(self) -> "ModelState":
        return copy.deepcopy(self)

    def charm_for(self, unit: str) -> int:
        """The charm version `unit`'s agent knows the application has (upgrade-charm's target)."""
        return self.charm_known.get(unit, self.charm_version)

    def leads(self, unit: str) -> bool:
        """Whether `unit` holds the lease and its agent can still renew it."""
        return self.leader == unit and self.renewal_lost != unit

    def live_units(self) -> List[str]:
        return sorted(
            (u.name for u in self.units.values() if u.alive and not u.dying), key=unit_sort_key
        )


def unit_sort_key(name: str):
    app, _, num = name.partition("/")
    return (app, int(num) if num.isdigit() else -1)


# ---------------------------------------------------------------------------
# Side channels


@dataclass(frozen=True)
class HookRecord:
    """One moment of a hook's life: 'begin', 'commit' or 'fail'."""

    event: str
    unit: str
    hook: str
    remote_unit: Optional[str]
    time: float
    exit_code: Optional[int] = None
    context_id: str = ""
    # commit/fail: what this hook's process wrote to stdout and stderr.
    output: str = ""
    # begin: whether the unit was the model's leader as the hook began.
    leader: Optional[bool] = None
    # commit/fail: CPU seconds of the hook process (None if not measured);
    # real, not simulated, time, so never part of key().
    cpu: Optional[float] = None

    def key(self):
        """The part of the record that must match across backends."""
        return (
            self.event,
            self.unit,
            self.hook,
            self.remote_unit,
            round(self.time, 6),
            self.exit_code,
        )


@dataclass(frozen=True)
class ToolCallRecord:
    """One hook-tool call and its answer (rc -9: the hook was killed at this call).

    `stdin` is the settings input the tool read: its stdin for ``--file -``,
    the file's content for ``--file PATH`` (b"" otherwise); `stdout` and
    `stderr` are what the tool answered.
    """

    unit: str
    hook: str
    context_id: str
    argv: tuple
    rc: int
    time: float
    stdin: bytes = b""
    stdout: bytes = b""
    stderr: bytes = b""

    def key(self):
        """The part that must match across runs: a --file path (a random temp
        name chosen by charmhelpers) is replaced by a placeholder."""
        argv = list(self.argv)
        for i, arg in enumerate(argv):
            if arg == "--file" and i + 1 < len(argv) and argv[i + 1] != "-":
                argv[i + 1] = "<file>"
            elif arg.startswith("--file=") and arg != "--file=-":
                argv[i] = "--file=<file>"
        return (self.unit, self.hook, tuple(argv), self.rc, round(self.time, 6))


@dataclass(frozen=True)
class LogRecord:
    unit: str
    hook: str
    level: str
    message: str
    time: float


@dataclass(frozen=True)
class StatusRecord:
    unit: str  # unit name, or the application name for --application
    status: str
    message: str
    time: float


@dataclass(frozen=True)
class JournalEntry:
    unit: str
    lock: str
    event: str  # 'start' or 'end'
    time: float
    hook: str


@dataclass
class CostModel:
    """Simulated-time costs (seconds). Jitter is a +-fraction, drawn from the seeded RNG."""

    hook_startup: float = 0.5
    tool_call: float = 0.01
    hook_exit: float = 0.05
    jitter: float = 0.2
    retry_base: float = 5.0
    retry_cap: float = 300.0
    update_status_interval: float = 300.0
    update_status_jitter: float = 0.2
    lease: float = 60.0
