"""Read the layer's own log lines in a simulation: who asked when, who was granted when.

The layer logs ``coordinator: <unit> requests '<lock>'`` when a unit asks
and ``coordinator: leader grants '<lock>' to <unit>`` when the leader
grants; the simulator records each juju-log line with its simulated time.
"""


def requests(sim, lock, since=0.0):
    """Return {unit: (asked, seen)}: when each unit asked, and when the leader saw it.

    The leader sees its own request at once, and a peer's request only in
    the first hook it runs for that peer (relation-changed) after the hook
    that made the request committed: Juju serves a peer's new settings no
    earlier (juju-semantics.md §2).
    """
    leader = sim.leader
    marker = f"requests {lock!r}"
    context_at = {(c.unit, c.time): c.context_id for c in sim.tool_calls}
    commits = {h.context_id: h.time for h in sim.trace if h.event == "commit"}
    found = {}
    for rec in sorted(sim.logs, key=lambda r: r.time):
        if rec.time < since or not rec.message.startswith("coordinator: "):
            continue
        if marker not in rec.message or rec.unit in found:
            continue
        if rec.unit == leader:
            found[rec.unit] = (rec.time, rec.time)
            continue
        committed = commits[context_at[(rec.unit, rec.time)]]
        seen = min(
            h.time
            for h in sim.trace
            if h.unit == leader
            and h.event == "begin"
            and h.time >= committed
            and h.remote_unit == rec.unit
        )
        found[rec.unit] = (rec.time, seen)
    return found


def grants(sim, lock, since=0.0):
    """Return [(time, unit)] of the leader's grants of ``lock``, in order."""
    return [
        (rec.time, rec.message.rsplit(" ", 1)[1])
        for rec in sorted(sim.logs, key=lambda r: r.time)
        if rec.time >= since
        and rec.unit == sim.leader
        and f"coordinator: leader grants {lock!r} to" in rec.message
    ]
