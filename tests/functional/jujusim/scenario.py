"""Declarative scenarios: an initial model plus timed events, run until quiet."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .model import (
    CostModel,
    HookRecord,
    JournalEntry,
    LogRecord,
    ModelState,
    StatusRecord,
    ToolCallRecord,
)
from .profile import JujuProfile
from .sim import Simulation


@dataclass(frozen=True)
class At:
    """Run `operation` (a Simulation method name) with args at simulated time `time`."""

    time: float
    operation: str
    args: Tuple = ()
    kwargs: Dict[str, object] = field(default_factory=dict)


@dataclass
class Scenario:
    charm_dir: str
    units: int = 3
    seed: int = 0
    config: Dict[str, object] = field(default_factory=dict)
    events: List[At] = field(default_factory=list)
    backend: str = "exec"
    update_status: bool = False
    costs: Optional[CostModel] = None
    max_hooks: int = 10000
    profile: Optional[JujuProfile] = None


@dataclass
class ScenarioResult:
    state: ModelState
    leader: Optional[str]
    leader_settings: Dict[str, str]
    relation_data: Dict[str, Dict[str, str]]
    # relation id -> its committed application databag
    app_data: Dict[str, Dict[str, str]]
    flags: Dict[str, List[str]]
    trace: List[HookRecord]
    tool_calls: List[ToolCallRecord]
    logs: List[LogRecord]
    status_history: List[StatusRecord]
    journal: List[JournalEntry]


def run_scenario(scenario: Scenario, workdir: Optional[str] = None) -> ScenarioResult:
    """Build the model, schedule every event, run until quiet, return state and traces."""
    scenario = copy.deepcopy(scenario)
    with Simulation(
        scenario.charm_dir,
        units=scenario.units,
        seed=scenario.seed,
        workdir=workdir,
        config=scenario.config,
        backend=scenario.backend,
        update_status=scenario.update_status,
        costs=scenario.costs,
        profile=scenario.profile,
    ) as sim:
        for event in sorted(scenario.events, key=lambda e: e.time):
            sim.schedule(event.time, event.operation, *event.args, **event.kwargs)
        sim.run_until_quiet(max_hooks=scenario.max_hooks)
        return ScenarioResult(
            state=sim.state,
            leader=sim.leader,
            leader_settings=sim.leader_settings(),
            relation_data=sim.relation_data() if sim.model.relations else {},
            app_data={rid: sim.app_data(rid) for rid in sorted(sim.model.relations)},
            flags={u: sim.flags(u) for u in sim.units},
            trace=list(sim.trace),
            tool_calls=list(sim.tool_calls),
            logs=list(sim.logs),
            status_history=list(sim.status_history),
            journal=list(sim.journal),
        )
