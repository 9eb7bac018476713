"""The seeded discrete-event scheduler: simulated time, wakes, timers and the run loops.

Time is simulated. Every unit runs at most one hook at a time; units run
concurrently in simulated time. In real time only one hook process advances
at any moment: the others wait for the answer to a tool call. The queue
holds, in simulated-time order (ties broken by the seeded RNG):

* ``wake``  - a unit may start its next hook (chosen by `agent.next_hook` at
  that moment: level-triggered);
* ``tool``  - a tool call a hook process has made, to be served at that time;
* ``exit``  - a hook process has ended: commit (exit 0) or fail;
* ``timer`` - retries, update-status, elections, scheduled scenario events.

The scheduler knows nothing of hooks beyond which units run one
(`running`, kept by the driver) and how many have begun: whoever owns an
event kind registers its handler with `on`. One `random.Random` drives every
seeded choice of the simulation (tie-breaks here, cost jitter, context ids,
elections), so the order of the draws is part of the behaviour: a seed gives
the same run only if they stay in the same order.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from typing import Callable, Dict, Optional

from .model import CostModel, ModelState, SimulationError, unit_sort_key


class Scheduler(object):
    """The event queue and the simulated clock (`now`) of one simulation."""

    def __init__(self, model: ModelState, rng: random.Random, costs: CostModel):
        self.model = model
        self.rng = rng
        self.costs = costs
        self.now = 0.0
        # unit name -> its running hook (the driver's object): one hook per unit.
        self.running: Dict[str, object] = {}
        self.hooks_begun = 0
        self._budget: Optional[int] = None
        self._queue: list = []
        self._seq = 0
        self._work = Counter()
        self._wake_pending = set()
        self._handlers: Dict[str, Callable] = {"timer": lambda payload: payload[1]()}

    def on(self, kind: str, handler: Callable):
        """Call `handler(payload)` for each event of `kind` ('wake', 'tool', 'exit')."""
        self._handlers[kind] = handler

    # -- queueing ----------------------------------------------------------------------

    def push(self, when: float, kind: str, payload, category: str = "work"):
        """Queue an event; `category` 'retry' or 'periodic' does not keep the model busy."""
        self._seq += 1
        heapq.heappush(self._queue, (when, self.rng.random(), self._seq, kind, payload, category))
        self._work[category] += 1

    def cost(self, base: float) -> float:
        """`base` seconds of simulated time with the cost model's seeded jitter."""
        if base <= 0:
            return 0.0
        j = self.costs.jitter
        return base * (1.0 + self.rng.uniform(-j, j)) if j else base

    def wake(self, name: str, when: Optional[float] = None):
        """Let the unit pick its next hook (now, or at `when`) unless it is gone or busy."""
        unit = self.model.units.get(name)
        if unit is None or not unit.alive or name in self.running or name in self._wake_pending:
            return
        self._wake_pending.add(name)
        self.push(self.now if when is None else when, "wake", name)

    def wake_all(self, exclude: Optional[str] = None):
        for name in sorted(self.model.units, key=unit_sort_key):
            if name != exclude:
                self.wake(name)

    def timer(self, delay: float, label: str, callback, category: str = "work"):
        """Call `callback()` `delay` simulated seconds from now."""
        self.push(self.now + delay, "timer", (label, callback), category)

    def at(self, when: float, label: str, callback):
        """Call `callback()` at simulated time `when`."""
        self.push(when, "timer", (label, callback))

    # -- running -----------------------------------------------------------------------

    def begin_hook(self, unit: str, hook):
        """A hook of `unit` begins: the unit is busy until `end_hook`."""
        self.hooks_begun += 1
        self.running[unit] = hook

    def end_hook(self, unit: str):
        del self.running[unit]

    def budget_spent(self) -> bool:
        """Whether the running loop's hook budget (`max_hooks`) is used up."""
        return self._budget is not None and self.hooks_begun >= self._budget

    def quiet(self, retries: bool) -> bool:
        if self.running:
            return False
        busy = sum(
            n for cat, n in self._work.items() if cat == "work" or (cat == "retry" and retries)
        )
        return busy == 0

    def run_until_quiet(self, max_hooks: int, retries: bool) -> int:
        """Step until `quiet(retries)`; return the number of hooks begun."""
        start = self.hooks_begun
        self._budget = start + max_hooks
        try:
            while not self.quiet(retries):
                self.step()
        finally:
            self._budget = None
        return self.hooks_begun - start

    def run_until(self, when: float, max_hooks: int) -> int:
        """Step through every event due up to `when`, then set the clock to `when`."""
        start = self.hooks_begun
        self._budget = start + max_hooks
        try:
            while self._queue and self._queue[0][0] <= when:
                self.step()
        finally:
            self._budget = None
        self.now = max(self.now, when)
        self.model.clock = self.now
        return self.hooks_begun - start

    def step(self):
        if not self._queue:
            raise SimulationError("internal: hooks are running but nothing is queued")
        when, _, _, kind, payload, category = heapq.heappop(self._queue)
        self._work[category] -= 1
        self.now = max(self.now, when)
        self.model.clock = self.now
        if kind == "wake":
            self._wake_pending.discard(payload)
        self._handlers[kind](payload)
