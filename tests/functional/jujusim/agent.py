"""The unit agent's hook selection: level-triggered, in Juju's priority order.

`next_hook(model, unit, now)` compares what the unit agent has seen (its
local state in `UnitState`) with what is true in the model and returns the one
hook to run next, or None. Because it looks at levels, not at a queue of
events, several changes by one peer collapse into one relation-changed and
several leader-settings writes into one leader-settings-changed.

Priority (juju-semantics.md section 1): relation-created, leadership
(leader-elected / leader-settings-changed), actions, the failed hook's retry,
install, upgrade-charm, config-changed, (start), relation hooks, update-status.
A unit in error runs nothing but actions and the retry of its failed hook.
Install comes first in practice because nothing else is due before it: Juju
runs relation-created and leadership hooks only on an installed unit.
"""

from __future__ import annotations

from typing import Optional

from .model import HookSpec, ModelState, UnitState


def next_action(model: ModelState, unit: UnitState) -> Optional[HookSpec]:
    for action in model.actions.values():
        if action.unit == unit.name and action.status == "pending":
            return HookSpec(kind="action", name=action.name, action_id=action.id)
    return None


def next_hook(model: ModelState, unit: UnitState, now: float) -> Optional[HookSpec]:
    if not unit.alive or unit.stopped:
        return None
    if unit.error_hook is not None:
        action = next_action(model, unit)
        if action is not None:
            return action
        if unit.retry_at is not None and now >= unit.retry_at - 1e-9:
            return unit.error_hook
        return None
    if not unit.installed:
        return HookSpec(kind="install", name="install")
    if not unit.dying:
        for rid in sorted(model.relations, key=_rid_key):
            if rid not in unit.relations_created:
                rel = model.relations[rid]
                return HookSpec(
                    kind="relation-created",
                    name=rel.name + "-relation-created",
                    relation=rel.name,
                    relation_id=rid,
                )
    # Juju's leadership resolver: a dying unit never accepts leadership, but
    # it still runs leader-settings-changed (after resigning, or when the
    # settings change) until it stops. A leader whose agent can no longer
    # renew its lease resigns at once, though the lease has not lapsed yet.
    if model.leads(unit.name):
        if not unit.local_leader and not unit.dying:
            return HookSpec(kind="leader-elected", name="leader-elected")
    elif unit.local_leader or unit.leader_settings_seen != model.leader_settings_version:
        return HookSpec(
            kind="leader-settings-changed",
            name="leader-settings-changed",
            version=model.leader_settings_version,
        )
    action = next_action(model, unit)
    if action is not None:
        return action
    if not unit.dying:
        if unit.charm_seen != model.charm_version:
            return HookSpec(
                kind="upgrade-charm", name="upgrade-charm", version=model.charm_version
            )
        if unit.config_seen != model.config_version:
            return HookSpec(
                kind="config-changed", name="config-changed", version=model.config_version
            )
        if not unit.started:
            return HookSpec(kind="start", name="start")
    for rid in sorted(unit.relations_created, key=_rid_key):
        spec = next_relation_hook(model, unit, rid)
        if spec is not None:
            return spec
    if unit.dying:
        return HookSpec(kind="stop", name="stop")
    if unit.update_status_due:
        return HookSpec(kind="update-status", name="update-status")
    return None


def _dying(model: ModelState, name: str) -> bool:
    other = model.units.get(name)
    return other is not None and other.dying


def next_relation_hook(model: ModelState, unit: UnitState, rid: str) -> Optional[HookSpec]:
    rel = model.relations[rid]
    local = unit.members.setdefault(rid, {})

    def spec(kind, remote, version=None):
        departing = None
        if kind == "relation-departed":
            # JUJU_DEPARTING_UNIT names the unit leaving: the remote one, or
            # this unit itself when it is the one being removed.
            departing = unit.name if unit.dying else remote
        return HookSpec(
            kind=kind,
            name="%s-%s" % (rel.name, kind),
            relation=rel.name,
            relation_id=rid,
            remote_unit=remote,
            version=version,
            departing_unit=departing,
        )

    def version_of(name):
        record = rel.settings.get(name)
        return record.version if record is not None else 0

    pending = unit.changed_pending.get(rid)
    if pending is not None:
        return spec("relation-changed", pending, version_of(pending))
    if unit.dying:
        remote = set()
    else:
        # A dying unit is reported as departed at once (Juju's cleanup of a
        # dying unit calls PrepareLeaveScope), though it stays in scope, and
        # may still be running a hook, until it has departed every peer.
        remote = {n for n in rel.scope if n != unit.name and not _dying(model, n)}
    names = sorted(set(local) | remote)
    for name in names:
        if name in local and name not in remote:
            return spec("relation-departed", name)
    for name in names:
        if name not in local:
            return spec("relation-joined", name, version_of(name))
    for name in names:
        if local[name] != version_of(name):
            return spec("relation-changed", name, version_of(name))
    return None


def _rid_key(rid: str):
    return int(rid.split(":", 1)[1])
