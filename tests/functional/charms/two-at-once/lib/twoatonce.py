"""A coordinator policy that lets two units restart at the same time.

Fixture library of the two-at-once charm (layer:coordinator functional tests),
named in its layer.yaml as ``twoatonce.TwoAtOnce``. Sets and clears no flags.
"""

from charmhelpers.coordinator import Serial

__all__ = ["TwoAtOnce"]

# How many units may hold the restart lock at once.
HOLDERS = 2


class TwoAtOnce(Serial):
    """Grant ``restart`` to up to two units at once; other locks one at a time."""

    def grant_restart(self, lock, unit, granted, queue):
        """Grant ``lock`` if ``unit`` is among the first waiters that fit.

        ``granted`` holds the units that already hold the lock; ``queue``
        lists the other units that asked for it, oldest request first.
        """
        return unit in queue[: max(0, HOLDERS - len(granted))]
