# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""Quiet hooks: a hook that can bring this unit no coordination news reads nothing.

A non-leader that has nothing requested, holds nothing and is not asked to
wake the leader has nothing to coordinate until news reaches it, and news
reaches it only in a hook that is never quiet (:func:`news`):

- the leader's decisions (grants, revocations, pause, the wake) change the
  peer relation's application databag, which runs ``coordinator-relation-
  changed`` on every other unit (Juju 3.6 and 4; with leader settings on
  3.6 also ``leader-settings-changed``);
- leadership it gains runs ``leader-elected`` (both profiles);
- a new charm runs ``upgrade-charm``; an operator's action runs with
  ``JUJU_ACTION_NAME`` set;
- its own requests are its own data: made by charm code in this hook, which
  loads everything first (the coordinator starts on first use).

So a full hook that ends with this unit idle, as a non-leader, having
written nothing, leaves a memo in unitdata (:data:`MEMO_KEY`); a later hook
that is not a news hook and finds a valid memo skips the layer's own reads:
no hook-tool call, no import of the rest of the package. Any other hook (a
news hook, no memo, a memo from another layer version, garbage, a memo
older than :data:`QUIET_FOR`) runs in full and writes or drops the memo at
its end.

The age limit bounds one case Juju does not announce: a unit whose
leadership went to another unit and came back within one of its hooks,
before its agent resigned it, runs no ``leader-elected``. It grants in its
next full hook: a hook of the peer relation, or at most QUIET_FOR later.
docs/protocol.md, "Quiet hooks", gives the argument per Juju version.

This module imports nothing of the package: it runs in every hook.
"""

import os
import time

from charmhelpers.core import hookenv, unitdata

__all__ = ["MEMO_KEY", "QUIET_FOR", "RELATION_NAME", "forget", "news", "quiet", "remember"]

#: The peer relation's name (``wire`` takes it from here).
RELATION_NAME = "coordinator"

#: unitdata key of the memo: ``{"version": MEMO_VERSION, "since": <time.time()>}``
#: (another layer version writes another version, and is not trusted).
MEMO_KEY = "coordinator.quiet"
MEMO_VERSION = 1

#: Seconds a memo is trusted after the full hook that wrote it.
QUIET_FOR = 3600.0

#: Hooks that can bring news to a unit whatever its memo says.
NEWS_HOOKS = frozenset(
    {
        "install",
        "leader-elected",
        "leader-settings-changed",
        "leader-deposed",
        "upgrade-charm",
        "start",
        "stop",
        "remove",
        "pre-series-upgrade",
        "post-series-upgrade",
    }
)


def news(relation_name):
    """Why this hook may bring coordination news (a short reason), or None."""
    if os.environ.get("JUJU_ACTION_NAME"):
        return "an action"
    hook = hookenv.hook_name()
    if hook in NEWS_HOOKS:
        return hook
    if hook.startswith(f"{relation_name}-relation-"):
        return hook
    if os.environ.get("JUJU_RELATION") == relation_name:
        return f"a hook of the {relation_name} relation"
    return None


def valid(memo, now=None):
    """Whether ``memo`` (unitdata's value) is this layer's and younger than QUIET_FOR."""
    if not isinstance(memo, dict) or set(memo) != {"version", "since"}:
        return False
    since, version = memo["since"], memo["version"]
    if type(version) is not int or version != MEMO_VERSION:
        return False
    if not isinstance(since, (int, float)):
        return False
    age = (time.time() if now is None else now) - since
    return 0 <= age < QUIET_FOR  # a clock that stepped back: not trusted


def quiet(relation_name):
    """Whether this hook can skip the layer's reads: no news, and a valid memo."""
    if news(relation_name) is not None:
        return False
    return valid(unitdata.kv().get(MEMO_KEY))


def remember():
    """Leave the memo: this unit ended a full hook idle, as a non-leader, writing nothing.

    A valid memo is kept as it is: its age counts from the first full hook
    that found the unit idle.
    """
    kv = unitdata.kv()
    if not valid(kv.get(MEMO_KEY)):
        kv.set(MEMO_KEY, {"version": MEMO_VERSION, "since": time.time()})


def forget():
    """Drop the memo: the next hook runs in full."""
    kv = unitdata.kv()
    if kv.get(MEMO_KEY) is not None:
        kv.unset(MEMO_KEY)
