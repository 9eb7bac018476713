"""The wall clock of each unit's hook processes: simulated time, an epoch and a skew.

A hook process reads epoch + the simulated time it was last told + its unit's
skew (bootstrap/jujusim_clock.py, installed by sitecustomize). The simulator
tells it by rewriting the unit's clock file (8 bytes, big-endian Unix ns):
the begin time when the hook starts (also in JUJU_SIM_CLOCK), then the time
of each tool call as the call is answered.
"""

from __future__ import annotations

import os
import struct
from typing import Dict

from .model import SimulationError
from .scheduler import Scheduler

CLOCK_EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z: simulated time 0 in hook processes


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_skew(name, seconds, app: str):
    """Refuse a skew for anything but a unit name of `app`, or one that is not finite."""
    prefix = app + "/"
    if (
        not isinstance(name, str)
        or not name.startswith(prefix)
        or not name[len(prefix) :].isdigit()
    ):
        raise SimulationError("clock skew for %r: not a unit name of application %s" % (name, app))
    if not is_number(seconds) or seconds != seconds or abs(seconds) == float("inf"):
        raise SimulationError(
            "clock skew for %s must be a number of seconds, got %r" % (name, seconds)
        )


class WallClocks(object):
    """The units' wall clocks: ``epoch + scheduler.now + skew[unit]``, and their files."""

    def __init__(self, directory: str, epoch: float, skew: Dict[str, float], scheduler: Scheduler):
        self.directory = directory
        self.epoch_ns = int(round(epoch * 1e9))
        self.skew = skew
        self.scheduler = scheduler
        self._fds: Dict[str, int] = {}
        os.makedirs(directory, exist_ok=True)

    def ns(self, unit: str) -> int:
        """The unit's simulated wall time now, in Unix nanoseconds (epoch + now + skew)."""
        return self.epoch_ns + int(round((self.scheduler.now + self.skew.get(unit, 0.0)) * 1e9))

    def path(self, unit: str) -> str:
        return os.path.join(self.directory, unit.replace("/", "-"))

    def tell(self, unit: str) -> int:
        """Write the unit's current wall time into its clock file; return it."""
        value = self.ns(unit)
        fd = self._fds.get(unit)
        if fd is None:
            fd = self._fds[unit] = os.open(self.path(unit), os.O_RDWR | os.O_CREAT, 0o644)
        os.pwrite(fd, struct.pack(">q", value), 0)
        return value

    def close(self):
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}
