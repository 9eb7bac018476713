"""The per-hook context: what one running hook sees and buffers.

A `HookContext` is created when a hook begins and dropped when it commits or
fails. It does not see the simulator, only the services it needs: the
model's plain data (read; its unit's workload version and its action's
results are written), the `Leadership` (is-leader, leader-get, leader-set),
the `ToolSinks` where the tools that act at once leave their records, and
`add_time`, which spends the hook's simulated time. It implements the Juju
hook-context rules the tools rely on:

* relation-set writes are buffered here and committed by the unit agent on exit 0;
  the unit reads its own pending writes back;
* remote settings are read through the unit agent's `RelationCache`
  (member settings survive across hooks until a joined/changed hook for that
  member invalidates them; non-member settings live for one hook);
* the application databag (``--app``): only the leader may write, checked
  through is-leader when relation-set runs; writes are buffered here like
  unit writes and committed (with a second leadership check) by the unit
  agent; the leader reads its writable copy (committed data at its first
  access plus its own writes), a non-leader a snapshot taken at its first
  read, kept for the rest of the hook;
* leader-get is a snapshot taken at the first read (leader-set by this hook
  drops it, so the next read is fresh); is-leader, once false, stays false;
* config-get is read once per hook;
* leader-set, status-set, juju-log, action-set and sim-journal act at once
  (they are kept even if the hook fails).
"""

from __future__ import annotations

import copy
from typing import Callable, Dict, List, Optional

from .agent import read_through_cache
from .leadership import Leadership
from .model import HookSpec, JournalEntry, LogRecord, ModelState, StatusRecord
from .scheduler import Scheduler
from .tools import ToolError


def go_sorted(names):
    """Sort unit names the way Go's sort.Strings does (plain byte order)."""
    return sorted(names)


class ToolSinks(object):
    """The records of the tools that act at once: juju-log, status-set and sim-journal.

    Side channels for checkers: `logs` (LogRecord), `status_history`
    (StatusRecord) and `journal` (JournalEntry), each stamped with the
    simulated time of the call.
    """

    def __init__(self, model: ModelState, scheduler: Scheduler):
        self.model = model
        self.scheduler = scheduler
        self.logs: List[LogRecord] = []
        self.status_history: List[StatusRecord] = []
        self.journal: List[JournalEntry] = []

    def add_log(self, unit: str, hook: str, level: str, message: str):
        self.logs.append(LogRecord(unit, hook, level, message, self.scheduler.now))

    def add_status(self, unit: str, status: str, message: str, application: bool):
        """The unit's workload status, or with `application` the application's, is set."""
        if application:
            self.model.app_status, self.model.app_message = status, message
            who = self.model.application
        else:
            record = self.model.units[unit]
            record.workload_status, record.workload_message = status, message
            who = unit
        self.status_history.append(StatusRecord(who, status, message, self.scheduler.now))

    def add_journal(self, unit: str, hook: str, event: str, lock: str):
        self.journal.append(JournalEntry(unit, lock, event, self.scheduler.now, hook))


class HookContext(object):
    def __init__(
        self,
        model: ModelState,
        leadership: Leadership,
        sinks: ToolSinks,
        unit_name: str,
        spec: HookSpec,
        context_id: str,
        cwd: str,
        add_time: Callable[[float], None],
    ):
        self.model = model
        self.leadership = leadership
        self.sinks = sinks
        self.add_time = add_time
        self.unit_name = unit_name
        self.spec = spec
        self.context_id = context_id
        self.cwd = cwd
        self.application = model.application
        self.pending: Dict[str, Dict[str, Optional[str]]] = {}
        self.port_changes: List[tuple] = []
        self.own_settings: Dict[str, Dict[str, str]] = {}
        self.leader_snapshot: Optional[Dict[str, str]] = None
        self.minion = False
        self.config_snapshot: Optional[dict] = None
        self.action_failed: Optional[str] = None
        self.journal_open: Dict[str, float] = {}
        # Application databag, per relation id: the leader's writable copy as
        # loaded, its buffered writes, and a non-leader's snapshot.
        self.app_writable: Dict[str, Dict[str, str]] = {}
        self.app_pending: Dict[str, Dict[str, Optional[str]]] = {}
        self.app_snapshot: Dict[str, Dict[str, str]] = {}

    # -- basics ---------------------------------------------------------------
    @property
    def unit(self):
        return self.model.units[self.unit_name]

    @property
    def relation_id(self) -> Optional[str]:
        return self.spec.relation_id

    @property
    def relation_name(self) -> Optional[str]:
        return self.spec.relation

    @property
    def remote_unit(self) -> Optional[str]:
        return self.spec.remote_unit

    @property
    def in_action(self) -> bool:
        return self.spec.is_action

    def _visible_relations(self) -> List[str]:
        rids = list(self.unit.relations_created)
        if self.spec.relation_id and self.spec.relation_id not in rids:
            rids.append(self.spec.relation_id)
        return rids

    def relation_key(self, rid: str) -> str:
        """How Juju names a relation in errors: ``<application>:<endpoint>``."""
        return "%s:%s" % (self.model.application, self.model.relations[rid].name)

    def resolve_relation(self, text: str) -> Optional[str]:
        visible = self._visible_relations()
        if text in visible:
            return text
        for rid in visible:
            if rid.split(":", 1)[1] == text:
                return rid
        return None

    # -- relations ------------------------------------------------------------
    def relation_ids(self, name: str) -> List[str]:
        rids = [rid for rid in self._visible_relations() if self.model.relations[rid].name == name]
        return sorted(rids, key=lambda r: int(r.split(":", 1)[1]))

    def relation_list(self, rid: str) -> List[str]:
        members = set(self.unit.members.get(rid, {}))
        if self.spec.relation_id == rid:
            if self.spec.kind == "relation-joined" and self.spec.remote_unit:
                members.add(self.spec.remote_unit)
            if self.spec.kind == "relation-departed" and self.spec.remote_unit:
                members.discard(self.spec.remote_unit)
        return go_sorted(members)

    def _fetch(self, rid: str, unit: str) -> Dict[str, str]:
        rel = self.model.relations[rid]
        record = rel.settings.get(unit)
        if record is None:
            raise ToolError(
                'cannot read settings for unit "%s" in relation "%s": '
                'unit "%s": settings not found' % (unit, self.relation_key(rid), unit)
            )
        return dict(record.data)

    def relation_settings(self, rid: str, unit: str) -> Dict[str, str]:
        if unit == self.unit_name:
            if rid not in self.own_settings:
                self.own_settings[rid] = self._fetch(rid, unit)
            merged = dict(self.own_settings[rid])
            for key, value in self.pending.get(rid, {}).items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            return merged
        return read_through_cache(self.unit, rid, unit, lambda: self._fetch(rid, unit))

    def relation_set(self, rid: str, changes: Dict[str, Optional[str]]):
        self.pending.setdefault(rid, {}).update(changes)

    # -- the application databag ------------------------------------------------
    @property
    def remote_app(self) -> Optional[str]:
        """JUJU_REMOTE_APP: in a hook of a peer relation, the unit's own application."""
        return self.application if self.spec.relation_id else None

    def _app_writable(self, rid: str) -> Dict[str, str]:
        # The context relation's ApplicationSettings(), read once per hook at
        # its first access (internal/worker/uniter/runner/context/relation.go
        # @270b0465; jujuc/relation-set.go Run, relation-get.go
        # readLocalUnitOrAppSettings).
        if rid not in self.app_writable:
            self.app_writable[rid] = dict(self.model.relations[rid].app_settings.data)
        return self.app_writable[rid]

    def app_settings(self, rid: str, app: str) -> Dict[str, str]:
        """What ``relation-get --app -r rid - app`` reads.

        relation-get reads the local writable copy when the target is the
        unit's own application and is-leader says true (jujuc/relation-get.go
        @2365bb25 mustReadSettingsFromController: that is-leader call is a
        real one, a renewal for a leader); otherwise it reads through the
        controller, and the agent's relation cache keeps that application's
        settings for the rest of the hook (context/cache.go @e8cfbfdd
        ApplicationSettings; every hook's new context prunes them:
        contextfactory.go @10aad0c8). A peer relation has one application;
        another name is refused (inferred: Juju's facade answers permission
        denied for an application outside the relation).
        """
        if app != self.application:
            raise ToolError("permission denied")
        if self.is_leader():
            merged = dict(self._app_writable(rid))
            for key, value in self.app_pending.get(rid, {}).items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            return merged
        if rid not in self.app_snapshot:
            self.app_snapshot[rid] = dict(self.model.relations[rid].app_settings.data)
        return dict(self.app_snapshot[rid])

    def app_relation_set(self, rid: str, changes: Dict[str, Optional[str]]):
        """``relation-set --app``: the leader's writes, buffered until the commit.

        jujuc/relation-set.go Run (@3ff63137 and the 4.x version): with --app
        it asks is-leader; false answers "cannot write relation settings"
        (exit 1); then it changes the context's writable application
        settings, an empty value deleting the key.
        """
        if not self.is_leader():
            raise ToolError("cannot write relation settings")
        self._app_writable(rid)
        self.app_pending.setdefault(rid, {}).update(changes)

    def app_changes(self) -> Dict[str, Dict[str, Optional[str]]]:
        """The application databag writes that change the hook's writable copy.

        Only those need committing, and leadership at the commit:
        FinalSettings returns application settings only when they are dirty
        (context/relation.go @270b0465), and RequiresLeadership() is true
        only for non-empty ApplicationSettings (domain/unitstate/types.go
        @13a7dd62).
        """
        result = {}
        for rid, pending in self.app_pending.items():
            base = self.app_writable[rid]
            new = dict(base)
            for key, value in pending.items():
                if value is None:
                    new.pop(key, None)
                else:
                    new[key] = value
            if new != base:
                result[rid] = dict(pending)
        return result

    # -- goal state -------------------------------------------------------------
    def goal_state(self) -> Dict[str, dict]:
        """What ``goal-state`` prints: the application's units.

        A unit is listed until it is removed from the model, with its
        workload status, or ``dying`` once its removal has begun. (No
        ``since`` times: Juju omits them when unknown.) ``relations`` stays
        empty: Juju's goal-state leaves peer relations out (the uniter
        facade's goalStateRelations skips a relation with one endpoint), and
        the simulator models no other kind.
        """
        units = {}
        for unit in self.model.units.values():
            if unit.alive:
                units[unit.name] = {"status": "dying" if unit.dying else unit.workload_status}
        return {"units": units, "relations": {}}

    # -- leadership -----------------------------------------------------------
    def is_leader(self) -> bool:
        if self.minion:
            return False
        if self.leadership.confirm(self.unit_name):
            return True
        self.minion = True
        return False

    def leader_get(self) -> Dict[str, str]:
        if self.leader_snapshot is None:
            self.leader_snapshot = self.leadership.settings()
        return dict(self.leader_snapshot)

    def leader_set(self, changes: Dict[str, Optional[str]]):
        if not self.is_leader():
            raise ToolError(
                "cannot write leadership settings: cannot write settings: not the leader"
            )
        self.leadership.write_settings(changes)
        self.leader_snapshot = None

    # -- everything else ----------------------------------------------------------
    def log(self, level: str, message: str):
        self.sinks.add_log(self.unit_name, self.spec.name, level, message)

    def status_set(self, status: str, message: str, application: bool):
        if application and not self.is_leader():
            raise ToolError("this unit is not the leader")
        self.sinks.add_status(self.unit_name, status, message, application)

    def status_get(self, application: bool):
        if application:
            if not self.is_leader():
                raise ToolError("finding application status: this unit is not the leader")
            return self.model.app_status, self.model.app_message
        return self.unit.workload_status, self.unit.workload_message

    def config(self) -> dict:
        if self.config_snapshot is None:
            self.config_snapshot = copy.deepcopy(self.model.config)
        return copy.deepcopy(self.config_snapshot)

    def unit_address(self) -> str:
        return self.unit.address

    def set_workload_version(self, version: str):
        self.unit.workload_version = version

    def port_change(self, opening: bool, spec: str):
        self.port_changes.append((opening, spec))

    def action_params(self) -> dict:
        return copy.deepcopy(self.model.actions[self.spec.action_id].params)

    def action_set(self, results: Dict[str, str]):
        action = self.model.actions[self.spec.action_id]
        for dotted, value in results.items():
            target = action.results
            parts = dotted.split(".")
            for part in parts[:-1]:
                nxt = target.get(part)
                if not isinstance(nxt, dict):
                    nxt = target[part] = {}
                target = nxt
            target[parts[-1]] = value

    def action_fail(self, message: str):
        self.action_failed = message

    def action_log(self, message: str):
        self.sinks.add_log(self.unit_name, self.spec.name, "INFO", message)

    def journal(self, event: str, lock: str, duration: float):
        self.sinks.add_journal(self.unit_name, self.spec.name, event, lock)
        if duration:
            self.add_time(duration)
