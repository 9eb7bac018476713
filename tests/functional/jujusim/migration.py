"""A model migration from a Juju 3.6 controller to a Juju 4 one, in two stages.

What Juju does (docs/juju-refresh-research.md section 5, docs/juju4-research.md
section 8, with their sources in Juju):

* The source's precheck refuses a model with a unit whose charm differs from
  its application's ("unit X is upgrading": 3.x ``migration/precheck.go``
  ``checkUnits``; a unit's charm is set as its agent starts deploying it).
  A unit in hook error does migrate (its agent reports idle; 3.6 rejected no
  unit for its workload status, juju/juju PR #23091).
* Each unit agent finishes the hook it runs and its commit before the
  migration stops it (hooks are killed only for cancelled actions,
  ``runner/runner.go @27dafee5``); then it begins no other until it runs
  against the new controller.
* The 4.x importers keep application and unit relation settings (the peer
  application databag included), unit and uniter state and the leader (the
  lease importer claims the 3.6 leader's lease); none reads leader settings,
  and 4.x has no leader-settings store: they are gone.
* **Stage 1, 3.x agents on the 4.x controller.** The controller serves them a
  stubbed leader-settings API (4.x ``apiserver/facades/agent/uniter``
  ``UniterAPIv20``): ``leader-set`` succeeds and stores nothing, ``leader-get``
  reads nothing, and its watcher sends one initial event. Every agent
  restarts, with a fresh local state, so each 3.6 non-leader runs one
  ``leader-settings-changed``. The 4.x controller derives relation settings
  versions from their content, not 3.6's revisions, so every unit sees a new
  version of each peer's settings and of the application databag: one
  ``relation-changed`` per remote unit with settings, and one
  application-level one where the bag holds data (inferred from the
  importers). The imported config hash was computed by 3.6 and 4.x computes
  its own, so each unit runs ``config-changed`` (inferred).
* **Stage 2, the agents upgrade to 4.x** (automatically since juju/juju PR
  #21529, shipped in 4.0.3; before it, at ``juju upgrade-model``). Each agent
  restarts as 4.x: no ``leader-get``/``leader-set``, no
  ``leader-settings-changed``, JUJU_VERSION 4. jujusim switches every unit
  at once, between hooks (a simplification: Juju upgrades the agents one by
  one; the layer reads only JUJU_VERSION, which changes per hook anyway).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional

from .model import SimulationError

# Simulated seconds between checks for the hooks still running.
_POLL = 0.5


def stage_one_profile(source, target):
    """A 3.x agent's rules against a 4.x controller: versions and data as the target keeps them."""
    return dataclasses.replace(
        source,
        name="%s-on-%s-controller" % (source.name, target.name),
        app_version=target.app_version,
    )


class Migration(object):
    """Runs the two stages on one simulation (`Simulation.migrate` makes one)."""

    def __init__(self, sim, target, agents_after: Optional[float]):
        self.sim = sim
        self.target = target
        self.agents_after = agents_after
        self.history: List[tuple] = sim.migration_history

    def start(self):
        sim = self.sim
        model = sim.model
        if not sim.profile.fires("leader-settings-changed"):
            raise SimulationError(
                "profile %s is not a Juju 3 controller's: nothing to migrate from"
                % sim.profile.name
            )
        if model.agents_stopped or model.leader_settings_stub:
            raise SimulationError("the model is migrating or has migrated already")
        # A unit's charm URL is set as its agent starts deploying the charm
        # (deploy Prepare: SetCurrentCharm); until then it is "upgrading".
        upgrading = sorted(
            name
            for name, unit in model.units.items()
            if unit.alive and not sim._agents.deployed(name)
        )
        if upgrading:
            raise SimulationError("cannot migrate: unit %s is upgrading" % upgrading[0])
        self._stop_agents("migrate", self._stage_one)

    def _stop_agents(self, label: str, then: Callable[[], None]):
        """Stop every agent; call `then` once no hook runs any more."""
        self.sim.model.agents_stopped = True
        sched = self.sim._sched

        def check():
            if sched.running:
                sched.timer(_POLL, label, check)
            else:
                then()

        check()

    def _restart_agents(self):
        sim = self.sim
        sim.model.agents_stopped = False
        for unit in sim.model.units.values():
            if unit.alive:
                sim._agents.restart_loop(unit)
                unit.relation_cache.clear()  # the agent's memory
        sim._sched.wake_all()

    def _stage_one(self):
        sim = self.sim
        model = sim.model
        model.leader_settings = {}
        model.leader_settings_stub = True
        sim._switch_profile(stage_one_profile(sim.profile, self.target))
        for rel in model.relations.values():
            if rel.app_settings.version:
                rel.app_settings.version = sim.profile.next_app_version(
                    rel.app_settings.data, rel.app_settings.version
                )
            for record in rel.settings.values():
                if record.version or record.data:
                    # A new version: 4.x derives its own from the content. (jujusim
                    # keeps version 0 for the addresses the agent wrote on entering
                    # scope; Juju's settings document has a revision then.)
                    record.version += 1
        model.config_version += 1
        self.history.append((sim.now, "3.x agents on the 4.x controller"))
        self._restart_agents()
        if self.agents_after is not None:
            sim._sched.timer(
                self.agents_after,
                "upgrade agents",
                lambda: self._stop_agents("upgrade agents", self._stage_two),
            )

    def _stage_two(self):
        sim = self.sim
        sim._switch_profile(self.target)
        self.history.append((sim.now, "4.x agents"))
        self._restart_agents()
