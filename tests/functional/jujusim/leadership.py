"""The leadership model: who leads, lease terms, elections, expiry, is-leader promises.

The model's `leader` holds the lease; `renewal_lost` names a leader whose
agent can no longer renew it (`ModelState.leads` is false for it). Each
change of leader starts a new lease term. Juju's rules
(juju-semantics.md section 3):

- the first leader is a seeded choice among the units;
- a removed leader resigns at once; a lapsed lease elects another live unit
  after a seeded delay within the lease (`CostModel.lease`, 60 s), or a
  named successor at once;
- ``is-leader`` true is a promise of leadership for the next 30 s
  (`LEADERSHIP_GUARANTEE`): an honoured expiry (`expire(honour_guarantee=
  True)`) lets the lease lapse only when the last promise ends;
- leader settings (Juju <= 3.6 only, section 8): ``leader-set`` writes them
  at once and a real change makes leader-settings-changed due on every
  non-leader (`write_settings`).

Side channels for checkers: `history` [(time, leader or None)],
`renewal_lost_history` [(time, unit, len(history) then)] and
`settings_history` [(time, settings)].
"""

from __future__ import annotations

from typing import Dict, List, Optional

from .model import ModelState
from .scheduler import Scheduler

# Juju's promise to a unit that is-leader answered true (juju-semantics.md section 3).
LEADERSHIP_GUARANTEE = 30.0


class Leadership(object):
    """The lease of one application's leadership, and its leader settings."""

    def __init__(self, model: ModelState, scheduler: Scheduler):
        self.model = model
        self.scheduler = scheduler
        # (simulated time, leader or None) at each change of leader, and
        # (time, settings) at each change of the leader settings.
        self.history: List[tuple] = []
        self.settings_history: List[tuple] = []
        # (time, unit, len(history) then) each time a leader's agent lost the
        # ability to renew its lease (an honoured expiry began).
        self.renewal_lost_history: List[tuple] = []
        self._confirmed_at: Dict[str, float] = {}
        self._term = 0  # bumped at every change of leader

    def leads(self, unit: str) -> bool:
        """Whether `unit` holds the lease and its agent can still renew it."""
        return self.model.leads(unit)

    def confirm(self, unit: str) -> bool:
        """is-leader from `unit`.

        True when `unit` holds the lease and can still renew it; that answer
        is a promise of leadership for the next 30 s.
        """
        if not self.leads(unit):
            return False
        self._confirmed_at[unit] = self.scheduler.now
        return True

    def elect_first(self):
        """The application's first leader: a seeded choice among its live units."""
        self.set_leader(self.scheduler.rng.choice(self.model.live_units()))

    def set_leader(self, name: Optional[str]):
        self._term += 1
        self.model.renewal_lost = None
        self.model.leader = name
        self.history.append((self.scheduler.now, name))

    def resign(self, name: str):
        """A removed leader resigns at once; another live unit is elected within the lease."""
        self.set_leader(None)
        self.schedule_election(exclude=name)

    def expire(self, honour_guarantee: bool, successor: Optional[str]):
        """The leader's lease lapses: at once, or when its last is-leader promise ends.

        With `honour_guarantee` the leader's agent can no longer renew (its
        is-leader says false from now on) and the lease lapses 30 s after its
        last is-leader true, or now if that is longer ago.
        """
        old = self.model.leader
        now = self.scheduler.now
        if honour_guarantee:
            if self.model.renewal_lost != old:
                self.model.renewal_lost = old
                self.renewal_lost_history.append((now, old, len(self.history)))
                self.scheduler.wake(old)  # its agent now sees itself a minion
            ends = self._confirmed_at.get(old, -1e300) + LEADERSHIP_GUARANTEE
            if ends > now:
                term = self._term
                self.scheduler.timer(
                    ends - now, "lease", lambda: self._lapse(old, successor, term)
                )
                return
        self._lapse(old, successor)

    def _lapse(self, old: str, successor: Optional[str] = None, term: Optional[int] = None):
        if self.model.leader != old or (term is not None and term != self._term):
            return  # that lease already ended (and `old` may lead again under a new one)
        self.set_leader(None)
        self.scheduler.wake(old)
        self.schedule_election(exclude=old, successor=successor)

    def schedule_election(self, exclude: Optional[str], successor: Optional[str] = None):
        delay = self.scheduler.rng.uniform(0.0, self.scheduler.costs.lease)
        if successor is not None:
            delay = 0.0  # that unit's agent was waiting to claim the lease
        self.scheduler.timer(delay, "election", lambda: self._elect(exclude, successor))

    def _elect(self, exclude: Optional[str], successor: Optional[str] = None):
        if self.model.leader is not None:
            return
        live = self.model.live_units()
        candidates = [u for u in live if u != exclude] or live
        if not candidates:
            return
        choice = self.scheduler.rng.choice(candidates)  # drawn anyway: same seed, same later draws
        self.set_leader(successor if successor in candidates else choice)
        self.scheduler.wake_all()

    # -- leader settings (Juju <= 3.6) -----------------------------------------------------

    def settings(self) -> Dict[str, str]:
        return dict(self.model.leader_settings)

    def write_settings(self, changes: Dict[str, Optional[str]]):
        """Apply `changes` (key -> str, or None to delete) to the leader settings.

        What a successful ``leader-set`` does: the settings change at once
        and, if anything really changed, the version is bumped and
        leader-settings-changed becomes due on every non-leader (not on the
        leader).
        """
        if self.model.leader_settings_stub:
            # A 4.x controller's stub for 3.x agents: success, nothing stored
            # (`jujusim.migration`).
            return
        new = dict(self.model.leader_settings)
        for key, value in changes.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        if new != self.model.leader_settings:
            self.model.leader_settings = new
            self.model.leader_settings_version += 1
            self.settings_history.append((self.scheduler.now, dict(new)))
            self.scheduler.wake_all(exclude=self.model.leader)
