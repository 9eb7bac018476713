"""The per-hook context: what one running hook sees and buffers.

A `HookContext` is created when a hook begins and dropped when it commits or
fails. It implements the Juju hook-context rules the tools rely on:

* relation-set writes are buffered here and handed to the simulator on exit 0;
  the unit reads its own pending writes back;
* remote settings are read through the unit agent's `RelationCache`
  (member settings survive across hooks until a joined/changed hook for that
  member invalidates them; non-member settings live for one hook);
* leader-get is a snapshot taken at the first read (leader-set by this hook
  drops it, so the next read is fresh); is-leader, once false, stays false;
* config-get is read once per hook;
* leader-set, status-set, juju-log, action-set and sim-journal act at once
  (they are kept even if the hook fails).
"""

from __future__ import annotations

import copy
from typing import Dict, List, Optional

from .agent import read_through_cache
from .model import HookSpec
from .tools import ToolError


def go_sorted(names):
    """Sort unit names the way Go's sort.Strings does (plain byte order)."""
    return sorted(names)


class HookContext(object):
    def __init__(self, sim, unit_name: str, spec: HookSpec, context_id: str, cwd: str):
        self.sim = sim
        self.unit_name = unit_name
        self.spec = spec
        self.context_id = context_id
        self.cwd = cwd
        self.application = sim.model.application
        self.pending: Dict[str, Dict[str, Optional[str]]] = {}
        self.port_changes: List[tuple] = []
        self.own_settings: Dict[str, Dict[str, str]] = {}
        self.leader_snapshot: Optional[Dict[str, str]] = None
        self.minion = False
        self.config_snapshot: Optional[dict] = None
        self.action_failed: Optional[str] = None
        self.journal_open: Dict[str, float] = {}

    # -- basics ---------------------------------------------------------------
    @property
    def unit(self):
        return self.sim.model.units[self.unit_name]

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
        rids = [
            rid for rid in self._visible_relations() if self.sim.model.relations[rid].name == name
        ]
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
        rel = self.sim.model.relations[rid]
        record = rel.settings.get(unit)
        if record is None:
            raise ToolError(
                'cannot read settings for unit "%s" in relation "%s": '
                'unit "%s": settings not found' % (unit, self.sim.relation_key(rid), unit)
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
        for unit in self.sim.model.units.values():
            if unit.alive:
                units[unit.name] = {"status": "dying" if unit.dying else unit.workload_status}
        return {"units": units, "relations": {}}

    # -- leadership -----------------------------------------------------------
    def is_leader(self) -> bool:
        if self.minion:
            return False
        if self.sim.confirm_leader(self.unit_name):
            return True
        self.minion = True
        return False

    def leader_get(self) -> Dict[str, str]:
        if self.leader_snapshot is None:
            self.leader_snapshot = dict(self.sim.model.leader_settings)
        return dict(self.leader_snapshot)

    def leader_set(self, changes: Dict[str, Optional[str]]):
        if not self.is_leader():
            raise ToolError(
                "cannot write leadership settings: cannot write settings: not the leader"
            )
        self.sim.write_leader_settings(changes)
        self.leader_snapshot = None

    # -- everything else ----------------------------------------------------------
    def log(self, level: str, message: str):
        self.sim.record_log(self, level, message)

    def status_set(self, status: str, message: str, application: bool):
        if application and not self.is_leader():
            raise ToolError("this unit is not the leader")
        self.sim.record_status(self, status, message, application)

    def status_get(self, application: bool):
        if application:
            if not self.is_leader():
                raise ToolError("finding application status: this unit is not the leader")
            return self.sim.model.app_status, self.sim.model.app_message
        return self.unit.workload_status, self.unit.workload_message

    def config(self) -> dict:
        if self.config_snapshot is None:
            self.config_snapshot = copy.deepcopy(self.sim.model.config)
        return copy.deepcopy(self.config_snapshot)

    def unit_address(self) -> str:
        return self.unit.address

    def set_workload_version(self, version: str):
        self.unit.workload_version = version

    def port_change(self, opening: bool, spec: str):
        self.port_changes.append((opening, spec))

    def action_params(self) -> dict:
        return copy.deepcopy(self.sim.model.actions[self.spec.action_id].params)

    def action_set(self, results: Dict[str, str]):
        action = self.sim.model.actions[self.spec.action_id]
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
        self.sim.record_log(self, "INFO", message)

    def journal(self, event: str, lock: str, duration: float):
        self.sim.record_journal(self, event, lock, duration)
