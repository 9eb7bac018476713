"""The unit agent's state machine: what it has seen, which hook it runs next, and commit.

Each unit's agent keeps local state in `UnitState` (installed, started, the
leader-settings, config and charm versions it has seen, the peers it has
joined and the settings version it last saw of each, its relation cache, a
failed hook). Around every hook it does three things:

* choose (`next_hook(model, unit, now, profile)`): compare what the agent
  has seen with what is true in the model and return the one hook to run
  next, or None. Because it looks at levels, not at a queue of events,
  several changes by one peer collapse into one relation-changed, several
  application databag commits into one application-level relation-changed
  (on every unit, the writer included) and several leader-settings writes
  into one leader-settings-changed (a profile without it, Juju 4, runs none);
* prepare (`UnitAgents.prepare`): as the hook begins, enter the relation's
  scope for relation-created, reset the relation cache, put the charm files
  of the version the hook runs for in place, mark an action running;
* commit or fail (`UnitAgents.finish`): on exit 0 the hook's buffered
  relation writes (unit and application databag) and port changes land in
  one piece and the agent records what the hook was for as seen, unless
  the hook changed application data and the unit no longer holds the lease
  (then nothing lands and the hook fails); otherwise the unit is in error
  and retries the hook.

Priority (juju-semantics.md section 1): relation-created, leadership
(leader-elected / leader-settings-changed), actions, the failed hook's retry,
install, upgrade-charm, config-changed, (start), relation hooks, update-status.
A unit in error runs nothing but actions and the retry of its failed hook.
Install comes first in practice because nothing else is due before it: Juju
runs relation-created and leadership hooks only on an installed unit.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from . import charmdir
from .model import (
    HookSpec,
    ModelState,
    RelationCache,
    SettingsRecord,
    UnitState,
)
from .profile import JujuProfile
from .scheduler import Scheduler


def next_action(model: ModelState, unit: UnitState) -> Optional[HookSpec]:
    for action in model.actions.values():
        if action.unit == unit.name and action.status == "pending":
            return HookSpec(kind="action", name=action.name, action_id=action.id)
    return None


def next_hook(
    model: ModelState, unit: UnitState, now: float, profile: JujuProfile
) -> Optional[HookSpec]:
    if not unit.alive or unit.stopped or model.agents_stopped:
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
    # upgrade-charm's commit queues config-changed (operation/runhook.go
    # @10a68261 Commit). A pending hook runs before leader-elected and
    # leader-settings-changed: the leadership resolver accepts leadership and
    # runs leader-settings-changed only when the operation kind is Continue
    # (leadership/resolver.go @270b0465 NextOp). It runs on a dying unit too.
    if unit.config_queued:
        return HookSpec(kind="config-changed", name="config-changed", version=model.config_version)
    # Juju's leadership resolver: a dying unit never accepts leadership, but
    # it still runs leader-settings-changed (after resigning, or when the
    # settings change) until it stops. A leader whose agent can no longer
    # renew its lease resigns at once, though the lease has not lapsed yet.
    # Juju 4 has no leader-settings-changed: its resolver only accepts or
    # resigns leadership (internal/worker/uniter/leadership/resolver.go
    # @2365bb25 NextOp), so nothing fires here; `UnitAgents.next_hook`
    # resigns without a hook.
    if model.leads(unit.name):
        if not unit.local_leader and not unit.dying:
            return HookSpec(kind="leader-elected", name="leader-elected")
    elif profile.fires("leader-settings-changed") and (
        unit.local_leader or unit.leader_settings_seen != model.leader_settings_version
    ):
        return HookSpec(
            kind="leader-settings-changed",
            name="leader-settings-changed",
            version=model.leader_settings_version,
        )
    action = next_action(model, unit)
    if action is not None:
        return action
    if not unit.dying:
        if unit.charm_seen != model.charm_for(unit.name):
            return HookSpec(
                kind="upgrade-charm", name="upgrade-charm", version=model.charm_for(unit.name)
            )
        if unit.config_seen != model.config_version:
            return HookSpec(
                kind="config-changed", name="config-changed", version=model.config_version
            )
        if not unit.started:
            return HookSpec(kind="start", name="start")
    for rid in sorted(unit.relations_created, key=_rid_key):
        spec = next_relation_hook(model, unit, rid, profile)
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


def next_relation_hook(
    model: ModelState, unit: UnitState, rid: str, profile: JujuProfile
) -> Optional[HookSpec]:
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
    # The application databag, after departures and before joins, as in
    # nextHookForRelation (internal/worker/uniter/relation/resolver.go
    # @12baae6d): one relation-changed with RemoteUnit "" when the bag's
    # version differs from the one the agent last saw (its
    # ApplicationMembers), so several commits before the unit gets to run
    # collapse into one hook that reads the latest data; none while the
    # version is 0 (never written: "since no app content has been set, there
    # is nothing for them to respond to"). On a peer relation every unit
    # watches its own application's bag, the writer included (4.x
    # domain/relation/state/related_unit_watcher.go InitialWatchRelatedUnits
    # forwards relation_application_settings_hash events to every watching
    # unit; observed on 3.6.8 in juju/juju#20178, whose doc contradiction
    # juju/juju PR #22525 settled by changing the docs). A dying unit has no
    # remote state for the relation (resolver: relationSnapshot is emptied),
    # so no such hook. The 3.6 line's resolver skips that hook on a peer
    # relation while the unit leads (remoteState.Leader; `if !isPeer ||
    # !leader`, internal/worker/uniter/relation/resolver.go @cfdd0c4c): the
    # version stays unseen, so the unit runs it once it no longer leads.
    app_version = rel.app_settings.version
    skip = not profile.leader_app_hooks and model.leads(unit.name)
    if not unit.dying and not skip and app_version != unit.app_seen.get(rid, 0):
        return HookSpec(
            kind="relation-changed",
            name="%s-relation-changed" % rel.name,
            relation=rel.name,
            relation_id=rid,
            version=app_version,
            remote_app=model.application,
        )
    for name in names:
        if name not in local:
            return spec("relation-joined", name, version_of(name))
    for name in names:
        if local[name] != version_of(name):
            return spec("relation-changed", name, version_of(name))
    return None


def _rid_key(rid: str):
    return int(rid.split(":", 1)[1])


def read_through_cache(
    unit: UnitState, rid: str, name: str, fetch: Callable[[], Dict[str, str]]
) -> Dict[str, str]:
    """Another unit's settings in `rid` as `unit`'s agent gives them to its hook.

    The agent's relation cache (juju-semantics.md section 2): a member's
    settings are cached across hooks and refreshed only after a joined or
    changed hook for that member (`UnitAgents.prepare` drops them); a
    non-member's settings are cached for one hook. `fetch()` reads the
    committed settings.
    """
    cache = unit.relation_cache.setdefault(rid, RelationCache())
    if name in cache.members:
        if cache.members[name] is None:
            cache.members[name] = fetch()
        return dict(cache.members[name])
    if name not in cache.others:
        cache.others[name] = fetch()
    return dict(cache.others[name])


class UnitAgents(object):
    """The unit agents of one application: prepare and commit around each hook.

    Also keeps the charm files each unit has (`install_charm`, replaced by
    `prepare` for upgrade-charm) and the periodic update-status timers.
    """

    def __init__(
        self,
        model: ModelState,
        scheduler: Scheduler,
        profile: JujuProfile,
        charm_path: str,
        update_status: bool,
    ):
        self.model = model
        self.scheduler = scheduler
        self.profile = profile
        self.update_status = update_status
        self._charm_sources = {0: charm_path}  # charm version -> source directory
        self._manifests: Dict[str, List[str]] = {}
        self._files_version: Dict[str, int] = {}  # charm version whose files a unit has
        # relation id -> [(time, settings)] at each committed change of its
        # application databag; (time, unit, hook, reason) of each refused commit.
        self.app_history: Dict[str, List[tuple]] = {}
        self.refusals: List[tuple] = []
        # (time, unit, charm source directory) each time a unit's charm files
        # are put in place (install, and each refresh as its hook begins).
        self.charm_history: List[tuple] = []

    # -- charm files -----------------------------------------------------------------------

    def add_charm(self, version: int, path: str):
        """A new charm revision (`version`) is deployed from `path`."""
        self._charm_sources[version] = path

    def deployed(self, unit: str) -> bool:
        """Whether `unit`'s agent has put the application's latest charm in place."""
        return self._files_version.get(unit, 0) == self.model.charm_version

    def install_charm(self, unit: UnitState):
        """Put the model's current charm files in a new unit's charm directory."""
        self._manifests[unit.name] = charmdir.install_charm_files(
            self._charm_sources[self.model.charm_version], unit.charm_dir
        )
        self._files_version[unit.name] = self.model.charm_version
        self.charm_history.append(
            (self.scheduler.now, unit.name, self._charm_sources[self.model.charm_version])
        )

    # -- choose ----------------------------------------------------------------------------

    def next_hook(self, unit: UnitState) -> Optional[HookSpec]:
        """The hook `unit` runs next (None: nothing is due); a dying unit may leave scope first.

        Without leader-settings-changed (Juju 4) a deposed leader's agent
        resigns without a hook: `resignLeadership` only logs "we should run
        a leader-deposed hook here, but we can't yet" and its Commit sets
        Leader false (internal/worker/uniter/operation/leader.go @285cce7f).
        A unit in error does not get that far (its failed hook comes first).
        """
        self.leave_scope_if_departed(unit)
        if (
            not self.profile.fires("leader-settings-changed")
            and unit.local_leader
            and unit.error_hook is None
            and not self.model.leads(unit.name)
        ):
            unit.local_leader = False
        return next_hook(self.model, unit, self.scheduler.now, self.profile)

    # -- prepare ---------------------------------------------------------------------------

    def prepare(self, unit: UnitState, spec: HookSpec):
        """What the unit agent does as a hook starts: caches, charm files, action state."""
        if spec.kind == "relation-created":
            self.enter_scope(unit, spec.relation_id)
        for rid in unit.relations_created:
            cache = unit.relation_cache.setdefault(rid, RelationCache())
            members = unit.members.get(rid, {})
            cache.members = {m: cache.members.get(m) for m in members}
            cache.others = {}
        if spec.relation_id and spec.remote_unit:
            cache = unit.relation_cache.setdefault(spec.relation_id, RelationCache())
            if spec.kind == "relation-departed":
                cache.members.pop(spec.remote_unit, None)
            else:
                cache.members[spec.remote_unit] = None
        version = None
        if spec.kind == "upgrade-charm":
            version = spec.version
            known = self.model.charm_for(unit.name)
            if unit.error_hook is not None and version != known:
                # Retrying a failed upgrade-charm after a newer upgrade: as
                # `juju upgrade-charm --force-units`, retry with the newest
                # files (another upgrade-charm follows for the new version).
                version = known
        elif unit.error_hook is not None and self._files_version.get(
            unit.name, 0
        ) != self.model.charm_for(unit.name):
            # A unit in error gets the new charm too (`juju refresh
            # --force-units`, and Juju applies a pending refresh on the loop
            # restart after a failed retry anyway): the failed hook is retried
            # with the new files and upgrade-charm never runs. Juju's deploy
            # operation restores the interrupted hook as pending instead of
            # queueing upgrade-charm (internal/worker/uniter/operation/deploy.go
            # @285cce7f Commit; resolver nextOpHookError; `juju refresh` help:
            # "units upgraded while in an error state will not have
            # upgrade-charm hooks executed"; juju/juju#20173 on 3.6.4).
            version = self.model.charm_for(unit.name)
            unit.charm_seen = version
            # Every deploy restarts the resolver loop (wrapUpgradeOp), this one too.
            self.restart_loop(unit)
        if version is not None and self._files_version.get(unit.name, 0) != version:
            source = self._charm_sources[version]
            self._manifests[unit.name] = charmdir.replace_charm_files(
                self._manifests[unit.name], source, unit.charm_dir
            )
            self._files_version[unit.name] = version
            self.charm_history.append((self.scheduler.now, unit.name, source))
        if spec.is_action:
            self.model.actions[spec.action_id].status = "running"

    def enter_scope(self, unit: UnitState, rid: str):
        """The agent joins a relation (EnterScope) before its relation-created hook runs.

        Juju's relation state tracker enters scope when it first learns of the
        relation, and can prepare relation-created only for a joined relation,
        so the unit's own settings (with its addresses) exist and the other
        units see it join while relation-created runs. It stays in scope if
        that hook fails.
        """
        rel = self.model.relations[rid]
        if unit.name in rel.scope or unit.dying:
            return
        rel.scope = sorted(rel.scope + [unit.name])
        if unit.name not in rel.settings:
            data = {
                "private-address": unit.address,
                "ingress-address": unit.address,
                "egress-subnets": unit.address + "/32",
            }
            if not self.profile.private_address:
                # Juju 4 no longer keeps private-address in relation data
                # (docs/releasenotes/juju_4.0.x/juju_4.0.0.md @4573ed4b); where
                # 4.x writes the others on entering scope was not read (inferred).
                del data["private-address"]
            rel.settings[unit.name] = SettingsRecord(data=data)
        self.scheduler.wake_all(exclude=unit.name)

    def leave_scope_if_departed(self, unit: UnitState):
        """A dying unit leaves a relation's scope once it has departed every peer there."""
        if not unit.dying or not unit.alive or unit.error_hook is not None:
            return
        for rid in unit.relations_created:
            rel = self.model.relations[rid]
            if (
                unit.name in rel.scope
                and not unit.members.get(rid)
                and unit.changed_pending.get(rid) is None
            ):
                rel.scope = [u for u in rel.scope if u != unit.name]
                self.scheduler.wake_all(exclude=unit.name)

    # -- commit or fail --------------------------------------------------------------------

    def finish(self, unit: UnitState, spec: HookSpec, rc: int, ctx) -> bool:
        """The hook (context `ctx`) ended with `rc`: commit, fail, or end the action.

        Returns whether it counts as committed: False for a non-zero exit and
        for an exit 0 whose commit Juju refused (see `commit_writes`).
        """
        if spec.is_action:
            action = self.model.actions[spec.action_id]
            refused = self.commit_writes(unit, ctx) if rc == 0 else None
            if rc != 0 or ctx.action_failed is not None or refused is not None:
                action.status = "failed"
                action.message = ctx.action_failed or refused or "exit status %d" % rc
            else:
                action.status = "completed"
            return rc == 0 and refused is None
        if rc == 0:
            refused = self.commit(unit, spec, ctx)
            if refused is None:
                return True
        if unit.alive:
            self.fail(unit, spec)
        return False

    def commit_writes(self, unit: UnitState, ctx) -> Optional[str]:
        """The hook's buffered writes land (exit 0 only), all of them or none.

        Unit relation settings, port changes and application databag
        changes go in one commit, as Juju's context Flush sends them in one
        CommitHookChanges call (4.x context.go; 3.x one transaction with
        the app settings op). If the hook changed application data, that
        commit needs the unit to hold the leadership lease now: the 4.x
        service wraps the whole commit in WithLeader when
        RequiresLeadership() (domain/unitstate/service/commithook.go
        @008619cd, domain/unitstate/types.go @13a7dd62), which checks the
        lease token first (domain/leaseservice.go @09332c4c); 3.x asserts
        the leadership token in the same transaction (inferred). If it does
        not, nothing lands and the reason is returned (the hook fails:
        Flush turns the error into the hook's error). Files the hook process
        wrote (unitdata) stay: it has already exited.
        """
        app_changes = ctx.app_changes()
        if app_changes and self.model.leader != unit.name:
            reason = "cannot apply changes: checking lease token: lease not held"
            self.refusals.append((self.scheduler.now, unit.name, ctx.spec.name, reason))
            return reason
        for rid, changes in sorted(ctx.pending.items()):
            self.apply_relation_changes(unit.name, rid, changes)
        ports = list(unit.opened_ports)
        for opening, port in ctx.port_changes:
            if opening and port not in ports:
                ports.append(port)
            elif not opening and port in ports:
                ports.remove(port)
        unit.opened_ports = ports
        for rid, changes in sorted(app_changes.items()):
            self.apply_app_changes(rid, changes)
        return None

    def apply_app_changes(self, rid: str, changes: Dict[str, Optional[str]]) -> bool:
        """Commit `changes` to the application databag of `rid`; True if anything changed.

        A real change gives the bag a new version (`JujuProfile.next_app_version`),
        is recorded in `app_history` and wakes every unit, the writer
        included (their application-level relation-changed becomes due,
        `next_relation_hook`); no change, nothing.
        """
        record = self.model.relations[rid].app_settings
        new = dict(record.data)
        for key, value in changes.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if new == record.data:
            return False
        record.data = new
        record.version = self.profile.next_app_version(new, record.version)
        self.app_history.setdefault(rid, []).append((self.scheduler.now, dict(new)))
        self.scheduler.wake_all()
        return True

    def apply_relation_changes(self, name: str, rid: str, changes: Dict[str, Optional[str]]):
        """Commit `changes` to unit `name`'s settings in `rid`; True if anything changed.

        A real change bumps the settings version and wakes every other unit
        (their relation-changed for `name` becomes due); no change, nothing.
        """
        record = self.model.relations[rid].settings.get(name)
        if record is None:
            return False
        new = dict(record.data)
        for key, value in changes.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if new == record.data:
            return False
        record.data = new
        record.version += 1
        self.scheduler.wake_all(exclude=name)
        return True

    def commit(self, unit: UnitState, spec: HookSpec, ctx) -> Optional[str]:
        """Exit 0: the writes land and the agent has seen what the hook was run for.

        Returns None, or why Juju refused the commit (nothing landed).
        """
        refused = self.commit_writes(unit, ctx)
        if refused is not None:
            return refused
        unit.error_hook, unit.error_count, unit.retry_at = None, 0, None
        kind = spec.kind
        if kind == "install":
            unit.installed = True
        elif kind == "relation-created":
            unit.relations_created.append(spec.relation_id)
            unit.members.setdefault(spec.relation_id, {})
            unit.relation_cache.setdefault(spec.relation_id, RelationCache())
        elif kind == "leader-elected":
            unit.local_leader = True
        elif kind == "leader-settings-changed":
            unit.local_leader = False
            unit.leader_settings_seen = spec.version
        elif kind == "config-changed":
            unit.config_seen = spec.version
            unit.config_queued = False
        elif kind == "upgrade-charm":
            unit.charm_seen = spec.version
            unit.config_seen = None  # Juju runs config-changed after upgrade-charm
            unit.config_queued = True
            # The deploy operation restarts the resolver loop with a fresh
            # LocalState (resolver/opfactory.go @270b0465 wrapUpgradeOp:
            # ErrRestart; uniter.go loop): on Juju <= 3.6 a non-leader runs
            # leader-settings-changed once the queued config-changed is done.
            self.restart_loop(unit)
        elif kind == "start":
            unit.started = True
            self.schedule_update_status(unit.name)
        elif kind == "relation-joined":
            unit.members.setdefault(spec.relation_id, {})[spec.remote_unit] = spec.version
            unit.changed_pending[spec.relation_id] = spec.remote_unit
        elif kind == "relation-changed" and spec.remote_app is not None:
            # The agent has seen this application databag version
            # (relation/state.go @270b0465 UpdateStateForHook stores ChangeVersion).
            unit.app_seen[spec.relation_id] = spec.version
        elif kind == "relation-changed":
            members = unit.members.setdefault(spec.relation_id, {})
            if spec.remote_unit in members:
                members[spec.remote_unit] = spec.version
            if unit.changed_pending.get(spec.relation_id) == spec.remote_unit:
                unit.changed_pending[spec.relation_id] = None
        elif kind == "relation-departed":
            unit.members.get(spec.relation_id, {}).pop(spec.remote_unit, None)
            self.leave_scope_if_departed(unit)
        elif kind == "update-status":
            unit.update_status_due = False
            self.schedule_update_status(unit.name)
        elif kind == "stop":
            unit.stopped = True
            unit.alive = False
        return None

    def restart_loop(self, unit: UnitState):
        """The uniter starts its resolver loop again with a fresh LocalState.

        Juju's `Uniter.loop` builds a new `resolver.LocalState` (charm URL
        and modified version only) after `resolver.ErrRestart` (a charm
        deploy) and when the agent starts; after a failed hook
        (`operation.ErrHookFailed`) it keeps the old one (uniter.go, the
        3.x line, `loop`). LocalState's leader-settings version is not
        persisted, the leader flag is (in the operation state): a non-leader
        runs leader-settings-changed at its next idle point on a profile
        that has it (2.9, 3.6; docs/juju-refresh-research.md section 6).
        """
        unit.leader_settings_seen = None

    def fail(self, unit: UnitState, spec: HookSpec):
        """A non-zero exit: the unit is in error and retries the hook (section 5)."""
        costs = self.scheduler.costs
        unit.error_hook = spec
        unit.error_count += 1
        delay = min(costs.retry_base * (2 ** min(unit.error_count - 1, 32)), costs.retry_cap)
        unit.retry_at = self.scheduler.now + delay
        name = unit.name
        self.scheduler.timer(
            delay, "retry %s" % name, lambda: self.scheduler.wake(name), category="retry"
        )

    def schedule_update_status(self, name: str):
        """update-status every 300 s +-20 % (seeded), when the simulation enables it."""
        if not self.update_status:
            return
        costs = self.scheduler.costs
        interval = costs.update_status_interval
        j = costs.update_status_jitter
        delay = interval * (1.0 + self.scheduler.rng.uniform(-j, j))

        def due():
            unit = self.model.units.get(name)
            if unit is not None and unit.alive and not unit.dying:
                unit.update_status_due = True
                self.scheduler.wake(name)

        self.scheduler.timer(delay, "update-status %s" % name, due, category="periodic")
