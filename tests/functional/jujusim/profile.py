"""Juju-version profiles: the rules that differ between Juju versions, in one object.

A `JujuProfile` says what one Juju version gives a charm's hooks:

* `tools`: the hook tools that exist. The driver installs a shim on PATH and
  serves a call only for these (another name answers exit 127, as a tool
  Juju does not have);
* `hooks`: the hook kinds the unit agent runs (`fires`); `agent.next_hook`
  asks it where the rule depends on the version (leader-settings-changed);
* `hook_env`: the environment of a hook process;
* `version`: the JUJU_VERSION string (and what ``jujud version`` prints).

`Simulation(..., profile=...)` picks one; the default, `JUJU_2_9`, holds the
rules jujusim has always implemented (Juju 2.9 to 3.6 machine charms, with
leader settings), with JUJU_VERSION 2.9.49.

Juju 4 plugs in here (the next issue; juju-semantics.md section 8): a
second profile with no ``leader-get``/``leader-set`` in `tools` (only
``is-leader`` is left of leadership), no ``leader-settings-changed`` in
`hooks` (the leadership resolver only accepts or resigns leadership: the one
place that asks is `agent.next_hook`, which refuses a profile without it
until that rule is written), a 4.x `version`, and the application databag
(``relation-get --app``/``relation-set --app`` in tools.py, buffered in
`context.HookContext`, committed by `agent.UnitAgents.commit_writes`).
"""

from __future__ import annotations

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

    def fires(self, kind: str) -> bool:
        """Whether the unit agent runs hooks of `kind` ('leader-settings-changed', ...)."""
        return kind in self.hooks

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
        JUJU_REMOTE_APP and JUJU_REMOTE_UNIT, relation-departed
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

DEFAULT_PROFILE = JUJU_2_9
