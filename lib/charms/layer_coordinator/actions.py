# Copyright 2026 The layer:coordinator authors.
# Licensed under the Apache License, Version 2.0; see the copyright file.
"""The operator actions: coordinator-status, -pause, -resume and -release.

Each runs outside any hook, so it loads the state itself and saves what it
changed (the scripts in ``actions/`` call :func:`run_action`). Pause, resume
and release change leader-owned data and run on the leader only.
"""

from charmhelpers.core import hookenv, unitdata

from . import wire
from .options import OptionError, load
from .shell import SimpleCoordinator

__all__ = [
    "ActionError",
    "format_report",
    "pause",
    "resume",
    "revoke",
    "run_action",
    "status_report",
]


class ActionError(Exception):
    """An action cannot do what was asked; the message says why."""


def _coordinator():
    """The coordinator, initialized (the public module builds it on first use)."""
    import charms.coordinator

    c = charms.coordinator.coordinator
    c.initialize()
    return c


def _leader_coordinator(action):
    c = _coordinator()
    if not c.is_leader:
        leader = c.leader_unit or "the leader (juju status marks it with *)"
        raise ActionError(
            f"{action} changes the leader-owned coordination data, so it runs on the leader: "
            f"run it on {leader}, not {c.unit}"
        )
    return c


def _age(ts, now):
    seconds = (now - wire.parse_timestamp(ts)).total_seconds()
    return max(0, int(seconds))


def status_report():
    """Return the coordination state as plain data (what coordinator-status shows)."""
    c = _coordinator()
    now = wire.utcnow()
    locks = sorted(
        {lock for locks in c.requests.values() for lock in locks}
        | {lock for locks in c.grants.values() for lock in locks}
    )
    report_locks = []
    for lock in locks:
        holders = []
        for unit in c.holders(lock):
            since = c.granted_at.get(unit, {}).get(lock)
            holders.append(
                {
                    "unit": unit,
                    "requested": c.grants[unit][lock],
                    "granted": since,
                    "held-seconds": _age(since, now) if since else None,
                }
            )
        queue = []
        for unit in c.queue(lock):
            ts = c.requests[unit][lock]
            queue.append({"unit": unit, "requested": ts, "waiting-seconds": _age(ts, now)})
        report_locks.append({"name": lock, "holders": holders, "queue": queue})
    policy = {"class": type(c).__name__, "order": load().order}
    if isinstance(c, SimpleCoordinator):
        policy["concurrency"] = c.concurrency()
    return {
        "unit": c.unit,
        "leader": c.leader_unit,
        "paused": bool(c.paused_since),
        "paused-since": c.paused_since,
        "policy": policy,
        "locks": report_locks,
    }


def format_report(report):
    """Render a status_report() for people."""
    policy = report["policy"]
    lines = [
        "policy: {}{}, order {}".format(
            policy["class"],
            f" (concurrency {policy['concurrency']})" if "concurrency" in policy else "",
            policy["order"],
        ),
        "granting: "
        + (f"PAUSED since {report['paused-since']}" if report["paused"] else "active"),
        f"leader: {report['leader'] or 'unknown'}",
    ]
    if not report["locks"]:
        lines.append("no lock is held or requested")
    for lock in report["locks"]:
        lines.append(f"lock {lock['name']!r}:")
        for h in lock["holders"]:
            held = f"held for {h['held-seconds']}s" if h["held-seconds"] is not None else "held"
            lines.append(f"  held by {h['unit']} ({held}, requested {h['requested']})")
        if not lock["holders"]:
            lines.append("  held by nobody")
        for n, q in enumerate(lock["queue"], 1):
            lines.append(f"  {n}. {q['unit']} waiting {q['waiting-seconds']}s")
    return "\n".join(lines)


def pause():
    """Stop granting locks (leader only); held grants stay. Return True if it changed."""
    return _leader_coordinator("coordinator-pause").pause_granting()


def resume():
    """Grant again (leader only), at once where possible. Return True if it changed."""
    return _leader_coordinator("coordinator-resume").resume_granting()


def revoke(unit, lock=None):
    """Revoke ``unit``'s grant of ``lock`` (all its grants if None); leader only.

    The next waiting unit is granted at once. The revoked request is dropped
    by ``unit`` when it next runs a hook; it asks again if it still needs the
    lock. Returns the revoked lock names.
    """
    c = _leader_coordinator("coordinator-release")
    held = c.grants.get(unit, {})
    names = sorted(held) if lock is None else [lock] if lock in held else []
    if not names:
        what = "lock" if lock is None else f"lock {lock!r}"
        holding = {u: sorted(locks) for u, locks in c.grants.items()}
        raise ActionError(f"{unit} holds no {what}; current holders: {holding or 'none'}")
    c.revoke(unit, names)
    return names


def run_action(name):
    """Run the layer's action ``name`` (called by the scripts in actions/)."""
    try:
        if name == "coordinator-status":
            report = status_report()
            text = format_report(report)
            print(text)
            hookenv.action_set(
                {
                    "summary": text,
                    "leader": report["leader"] or "",
                    "paused": str(report["paused"]).lower(),
                    "policy": wire.dump(report["policy"]),
                    "locks": wire.dump(report["locks"]),
                }
            )
        elif name == "coordinator-pause":
            changed = pause()
            hookenv.action_set({"paused": "true", "changed": str(changed).lower()})
        elif name == "coordinator-resume":
            changed = resume()
            hookenv.action_set({"paused": "false", "changed": str(changed).lower()})
        elif name == "coordinator-release":
            params = hookenv.action_get() or {}
            unit = params.get("unit")
            if not unit:
                raise ActionError("coordinator-release needs unit=<unit name>")
            names = revoke(unit, params.get("lock") or None)
            hookenv.action_set({"revoked": wire.dump(names), "unit": unit})
        else:
            raise ActionError(f"unknown action {name!r}")
    except (ActionError, OptionError) as exc:
        hookenv.action_fail(str(exc))
    finally:
        unitdata.kv().flush()
