"""Juju-version profiles: the rules that differ between Juju versions, in one object.

A `JujuProfile` says what one Juju version gives a charm's hooks:

* `tools`: the hook tools that exist. The driver installs a shim on PATH
  only for these (the tools directory is per simulation, so PATH is per
  profile): a hook calling another name fails as a missing executable does
  (a shell says exit 127, Python's subprocess raises FileNotFoundError,
  which charmhelpers' leader_get/leader_set turn into NotImplementedError);
  a call that still reaches the socket answers exit 127;
* `hooks`: the hook kinds the unit agent runs (`fires`); `agent` asks it
  where the rule depends on the version (leader-settings-changed);
* `app_version`: what the application databag's change version is:
  ``"revision"`` (Juju <= 3.6: a revision bumped by every commit that
  changes the content) or ``"hash"`` (Juju 4: derived from the content);
* `private_address`: whether the unit agent puts ``private-address`` in the
  unit's relation settings as it enters scope;
* `hook_env`: the environment of a hook process;
* `version`: the JUJU_VERSION string (and what ``jujud version`` prints).

`Simulation(..., profile=...)` picks one, `by_name("2.9" | "3.6" | "4")`
finds one by name. The default, `JUJU_2_9`, holds the rules jujusim has
always implemented (Juju 2.9 to 3.6 machine charms, with leader settings),
with JUJU_VERSION 2.9.49, plus the application databag; `JUJU_3_6` is the
same with JUJU_VERSION 3.6.12; `JUJU_4` is Juju 4.0 (juju-semantics.md
section 8, docs/juju4-research.md sections 1-7, each rule cited where it
is implemented):

* no ``leader-get``/``leader-set``: the 4.x jujuc command table's
  ``leaderCommands`` holds only ``is-leader``
  (``internal/worker/uniter/runner/jujuc/server.go @120cca61``), and the
  tool symlinks are made only for ``jujuc.CommandNames()``
  (``agent/tools/symlinks.go @22ee67a2`` ``EnsureSymlinks``);
* no ``leader-settings-changed``: the 4.x leadership resolver only accepts
  or resigns leadership (``internal/worker/uniter/leadership/resolver.go
  @2365bb25`` ``NextOp``); a deposed leader resigns without a hook, as in
  every version (``operation/leader.go @285cce7f`` ``resignLeadership``);
* application databag versions are content hashes
  (``GetRelationUnitChanges`` returns ``hashToInt(sha256 of settings)``,
  4.x domain/relation state tests ``TestGetRelationUnitChanges``,
  ``TestSetRelationApplicationSettingsHashConstant``);
* no ``private-address`` in relation data (``docs/releasenotes/juju_4.0.x/
  juju_4.0.0.md @4573ed4b``: "no longer automatically maintained");
* JUJU_VERSION 4.0.1 (``HookVars`` sets it in every hook, 4.x
  ``context.go``; format ``core/semversion/version.go @6d9f0fea``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Dict, FrozenSet, Tuple

from .backends import BOOTSTRAP_DIR
from .model import HookSpec, ModelState, UnitState
from .tools import TOOLS


@dataclass(frozen=True)
class JujuProfile:
    """The hook tools, hooks, hook environment and version string of one Juju version."""

    name: str
    version: str
    tools: Tuple[str, ...]
    hooks: FrozenSet[str]
    app_version: str = "revision"
    private_address: bool = True
    # Whether a unit runs the application-level relation-changed of a peer
    # relation while it leads (see `agent.next_relation_hook`).
    leader_app_hooks: bool = True

    def fires(self, kind: str) -> bool:
        """Whether the unit agent runs hooks of `kind` ('leader-settings-changed', ...)."""
        return kind in self.hooks

    def next_app_version(self, data: Dict[str, str], old: int) -> int:
        """The application databag's version after a commit changed it to `data`.

        Juju <= 3.6 (``"revision"``): the settings document's txn-revno, so
        every commit that changes the content gives a new version (the
        resolver compares with ``!=`` "due to the use of the relation
        settings document's txn-revno as the version",
        ``worker/uniter/relation/resolver.go @073dc4cb``). Juju 4
        (``"hash"``): ``hashToInt`` of the settings' SHA-256, so equal
        content has an equal version (``TestGetRelationUnitChanges``,
        ``TestSetRelationApplicationSettingsHashConstant`` in the 4.x
        domain/relation state tests; docs/juju4-research.md section 4). The exact
        bytes Juju hashes are not reproduced, only "same content, same
        version"; 0 stays "never written" (the resolver runs no hook then).
        """
        if self.app_version == "hash":
            text = json.dumps(sorted(data.items()), separators=(",", ":"))
            value = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1
            return value or 1
        return old + 1

    def hook_env(
        self,
        model: ModelState,
        unit: UnitState,
        spec: HookSpec,
        context_id: str,
        socket_path: str,
        path: str,
    ) -> Dict[str, str]:
        """The environment Juju gives the hook (juju-semantics.md section 1).

        Every hook gets CHARM_DIR, JUJU_CHARM_DIR, JUJU_UNIT_NAME,
        JUJU_MODEL_NAME, JUJU_MODEL_UUID, JUJU_VERSION, JUJU_CONTEXT_ID,
        JUJU_AVAILABILITY_ZONE, JUJU_MACHINE_ID, JUJU_PRINCIPAL_UNIT (empty for
        a principal), JUJU_AGENT_SOCKET_ADDRESS and _NETWORK (here the
        simulator's socket), PATH (`path`: the hook tools first), LANG and
        JUJU_DISPATCH_PATH; a hook JUJU_HOOK_NAME, an action JUJU_ACTION_NAME
        and JUJU_ACTION_UUID; a relation hook JUJU_RELATION, JUJU_RELATION_ID,
        JUJU_REMOTE_APP and JUJU_REMOTE_UNIT (present but empty for an
        application databag change), relation-departed
        JUJU_DEPARTING_UNIT. PYTHONPATH is the simulator's deviation.
        """
        env = {
            "CHARM_DIR": unit.charm_dir,
            "JUJU_CHARM_DIR": unit.charm_dir,
            "JUJU_UNIT_NAME": unit.name,
            "JUJU_MODEL_NAME": model.model_name,
            "JUJU_MODEL_UUID": model.model_uuid,
            "JUJU_VERSION": self.version,
            "JUJU_CONTEXT_ID": context_id,
            "JUJU_AVAILABILITY_ZONE": "zone-%d" % (unit.number % 3 + 1),
            "JUJU_MACHINE_ID": unit.machine,
            "JUJU_PRINCIPAL_UNIT": "",
            "JUJU_AGENT_SOCKET_ADDRESS": socket_path,
            "JUJU_AGENT_SOCKET_NETWORK": "unix",
            "PATH": path,
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
            env["JUJU_REMOTE_APP"] = model.application
            if spec.remote_unit:
                env["JUJU_REMOTE_UNIT"] = spec.remote_unit
            elif spec.remote_app:
                # An application databag change: the resolver's hook.Info has
                # RemoteUnit "" and HookVars still sets the variable, empty
                # (internal/worker/uniter/relation/resolver.go @12baae6d
                # nextHookForRelation; 4.x context.go HookVars).
                env["JUJU_REMOTE_UNIT"] = ""
            if spec.departing_unit:
                env["JUJU_DEPARTING_UNIT"] = spec.departing_unit
        return env


# Every hook kind the unit agent can run (`HookSpec.kind`; "action" for actions).
HOOK_KINDS = frozenset(
    (
        "install",
        "relation-created",
        "leader-elected",
        "leader-settings-changed",
        "action",
        "upgrade-charm",
        "config-changed",
        "start",
        "relation-joined",
        "relation-changed",
        "relation-departed",
        "update-status",
        "stop",
    )
)

# Juju 2.9 to 3.6 machine charms: every tool of tools.py (leader-get and
# leader-set included) and every hook kind; JUJU_VERSION as a 2.9 agent says it.
JUJU_2_9 = JujuProfile(name="juju-2.9", version="2.9.49", tools=tuple(TOOLS), hooks=HOOK_KINDS)

# Juju 3.6 (the LTS that keeps leader settings): the same rules and a 3.6
# JUJU_VERSION, but the 3.6 line's relation resolver runs no application-level
# relation-changed of a peer relation on the unit that leads ("Don't trigger
# the relation-changed hook for the unit that triggered it": `if !isPeer ||
# !leader`, internal/worker/uniter/relation/resolver.go @cfdd0c4c, which
# imports charm/v12 and names/v5). Earlier releases ran it on the leader too
# (juju/juju#20178, observed on 3.6.8): `leader_app_hooks=True` is that variant.
JUJU_3_6 = JujuProfile(
    name="juju-3.6",
    version="3.6.12",
    tools=tuple(TOOLS),
    hooks=HOOK_KINDS,
    leader_app_hooks=False,
)

# Juju 4.0: see the module docstring.
JUJU_4 = JujuProfile(
    name="juju-4",
    version="4.0.1",
    tools=tuple(t for t in TOOLS if t not in ("leader-get", "leader-set")),
    hooks=HOOK_KINDS - {"leader-settings-changed"},
    app_version="hash",
    private_address=False,
    # The only resolver source read is the 3.6 line's (above); 4.x's
    # watcher forwards the change to every unit, the writer included, but
    # whether its resolver then runs the hook on the leader is not settled
    # by what was read, so the stricter rule is the default (the layer must
    # be prompt without that hook; tests cover both).
    leader_app_hooks=False,
)

DEFAULT_PROFILE = JUJU_2_9

PROFILES = {"2.9": JUJU_2_9, "3.6": JUJU_3_6, "4": JUJU_4}


def by_name(name: str) -> JujuProfile:
    """The profile called `name`: "2.9", "3.6" or "4" (or its `name`, e.g. "juju-4")."""
    for key, profile in PROFILES.items():
        if name in (key, profile.name):
            return profile
    raise ValueError("no Juju profile %r: use one of %s" % (name, ", ".join(sorted(PROFILES))))
