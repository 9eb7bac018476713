"""A simulated rolling restart of a real built charm, as a timeline (`make demo`).

Builds (or reuses) the rolling-restart fixture charm with `charm build`,
deploys it on N simulated units of one Juju version (a jujusim profile:
``--juju 4``, the current Juju, unless told otherwise), changes its config
once, and runs the model until it is quiet. Prints one lane per unit with what happened when, in
simulated seconds: the request (req), the leader's grant (GRANT), the
guarded work (work ... done) and the release (rel). Then the hooks each unit
ran and the most units ever in guarded work at once. Exits 1 if a
coordination invariant fails.

Usage: python tests/functional/demo.py [--units 5] [--seed 1] [--juju 4]
       [--backend fork] [--charm DIR]
"""

import argparse
import sys
import time
from collections import Counter

import charmbuild
from jujusim import Simulation, by_name
from jujusim.invariants import (
    InvariantError,
    check_all_requesters_acted,
    check_max_concurrency,
    check_no_granted_flags_at_rest,
    check_quiesced,
)
from jujusim.verdict import layer_log_events, render_timeline, sort_events
from schedules import DEFAULT_JUJU


def events(sim, since):
    """Return [(time, unit, label)] for the roll, from the layer's log and the journal."""
    found = layer_log_events(sim, since)
    for entry in sim.journal:
        if entry.time >= since:
            found.append((entry.time, entry.unit, "work" if entry.event == "start" else "done"))
    return sort_events(found)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--juju",
        default=DEFAULT_JUJU,
        help="the Juju version to simulate: 2.9, 3.6 or 4 (default %(default)s)",
    )
    parser.add_argument("--backend", default="fork", choices=("fork", "exec"))
    parser.add_argument("--charm", help="a built charm to run instead of the fixture")
    args = parser.parse_args(argv)
    try:
        profile = by_name(args.juju)
    except ValueError as e:
        parser.error(str(e))

    started = time.monotonic()
    charm = args.charm or str(charmbuild.build_charm("rolling-restart"))
    built = time.monotonic()
    print(f"charm: {charm}")
    with Simulation(
        charm, units=args.units, seed=args.seed, backend=args.backend, profile=profile
    ) as sim:
        deploy_hooks = check_quiesced(sim)
        since = sim.now
        sim.set_config(generation=1)
        roll_hooks = check_quiesced(sim)
        print(
            f"\n{args.units} units on Juju {args.juju} ({profile.name}, JUJU_VERSION "
            f"{sim.juju_version}), seed {args.seed}, leader {sim.leader} (*): "
            f"config change at t={since:.1f}s\n"
        )
        print(render_timeline(sim, events(sim, since), since))
        per_unit = Counter(h.unit for h in sim.trace if h.event == "begin" and h.time >= since)
        print(f"\nhooks during the roll: {roll_hooks} ({deploy_hooks} to deploy)")
        for unit in sorted(per_unit, key=lambda u: int(u.rsplit("/", 1)[1])):
            print(f"  {unit}: {per_unit[unit]} hooks")
        try:
            peak = check_max_concurrency(sim.journal, 1)
            check_all_requesters_acted(sim.journal, sim.units, since=since)
            check_no_granted_flags_at_rest({u: sim.flags(u) for u in sim.units})
        except InvariantError as exc:
            print(f"\nINVARIANT FAILED: {exc}")
            return 1
        print(f"most units in guarded work at once: {peak}")
        print(f"simulated roll duration: {sim.now - since:.1f}s")
    done = time.monotonic()
    print(f"wall time: {done - built:.1f}s simulating, {built - started:.1f}s building the charm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
