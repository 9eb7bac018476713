"""The randomized fault campaign (`make fuzz`): many seeds, one report.

What a seed means (its fixture, units, faults and the invariants checked
after it) is ``schedules.py``; this file runs seeds in processes, writes and
merges slices, and prints the figures: schedules tried, hooks run, faults
injected by kind and violations found. Every seed of a campaign runs on one
Juju version, a jujusim profile (``--juju 4``, the current Juju, unless told
otherwise: ``--juju 3.6``); the report names it.

Usage: python tests/functional/fuzz.py [--schedules 10000] [--first-seed 1]
       [--juju 4] [--jobs N (default: the CPU count)] [--show-seed N]
       [--json FILE] [--slices DIR [--slice-size 100]]
       python tests/functional/fuzz.py --merge FILE... [--juju NAME]

A campaign too long for one sitting runs in slices. ``--slices DIR`` writes
one ``seeds-FIRST-LAST.json`` file per slice as soon as the slice is done,
and on the next run keeps every slice already in DIR that holds all its
seeds and ran on the same Juju profile, the same charm builds (content keys)
and the same simulator and schedule generator (``harness_key``), so a killed
campaign resumes where it stopped and a changed layer or simulator (or
another Juju) is tested again. ``--merge`` prints the report of slices
together, refuses slices whose seeds overlap or that ran on different Juju
profiles (a slice from before profiles were recorded counts as "(not
recorded)"), and lists the charm builds the slices ran, so a reader sees
whether they ran the same code.

Exits 1 if any unexplained violation was found; each failing seed is printed
and reproduces exactly with ``--show-seed``.
"""

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import charmbuild
from jujusim import by_name
from schedules import (
    DEFAULT_JUJU,
    FAULT_KINDS,
    FIXTURES,
    ORIGINALS,
    UPGRADE_FAULTS,
    Outcome,
    generate,
    run_schedule,
)

# What --merge calls the profile of a slice written before slices recorded one.
UNRECORDED = "(not recorded)"


def build_fixtures() -> Dict[str, str]:
    names = sorted(FIXTURES) + sorted(ORIGINALS.values())
    return {name: str(path) for name, path in charmbuild.prebuild(names).items()}


def juju_line(juju: str) -> str:
    """The report's line naming the Juju version the seeds ran on."""
    try:
        profile = by_name(juju)
    except ValueError:
        return "juju profile: %s" % juju
    return "juju profile: %s (jujusim %s, JUJU_VERSION %s)" % (juju, profile.name, profile.version)


def report(outcomes: List[Outcome], elapsed: float) -> str:
    faults, skipped, violations, explained = Counter(), Counter(), Counter(), Counter()
    for o in outcomes:
        faults.update(o.faults)
        skipped.update(o.skipped)
        for invariant, _ in o.violations:
            violations[invariant] += 1
        if o.error:
            violations["runner-error"] += 1
        for invariant, _ in o.explained:
            explained[invariant] += 1
    hooks = sum(o.hooks for o in outcomes)
    lines = [
        "schedules tried: %d (%d hooks, %.0f s, %.1f schedules/s)"
        % (len(outcomes), hooks, elapsed, len(outcomes) / max(elapsed, 1e-9)),
        "faults injected: %d" % sum(faults.values()),
    ]
    for kind in FAULT_KINDS + UPGRADE_FAULTS:
        if faults[kind] or skipped[kind]:
            lines.append(
                "  %-22s %6d%s"
                % (kind, faults[kind], "  (%d not applicable when due)" % skipped[kind])
            )
    lines.append("violations found: %d" % sum(violations.values()))
    for invariant, n in sorted(violations.items()):
        lines.append("  %-22s %6d" % (invariant, n))
    lines.append(
        "explained (leadership lost inside Juju's 30 s promise, or only units on the original "
        "layer): %d" % sum(explained.values())
    )
    bad = [o for o in outcomes if o.violations or o.error]
    for o in bad[:20]:
        lines.append("")
        lines.append(generate(o.seed).describe())
        for invariant, detail in o.violations:
            lines.append("  VIOLATION %s: %s" % (invariant, detail))
        if o.error:
            lines.append("  RUNNER ERROR: " + o.error.strip().splitlines()[-1])
    if len(bad) > 20:
        lines.append("... and %d more failing seeds" % (len(bad) - 20))
    return "\n".join(lines)


def campaign(
    seeds, charms, jobs=2, progress=None, juju=DEFAULT_JUJU
) -> Tuple[List[Outcome], float]:
    started = time.perf_counter()
    outcomes = []
    results = _map_outcomes(_runner(juju), seeds, charms, jobs)
    try:
        for o in results:
            outcomes.append(o)
            if progress and len(outcomes) % progress == 0:
                print(
                    "... %d schedules, %d violations"
                    % (len(outcomes), sum(1 for x in outcomes if x.violations or x.error)),
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        results.close()  # on an error, cancel the seeds not started yet
    return outcomes, time.perf_counter() - started


def _from_json(data: dict) -> Outcome:
    outcome = Outcome(data["seed"])
    outcome.faults.update(data.get("faults") or {})
    outcome.skipped.update(data.get("skipped") or {})
    outcome.violations = [tuple(v) for v in data.get("violations") or []]
    outcome.explained = [tuple(v) for v in data.get("explained") or []]
    outcome.hooks = int(data.get("hooks") or 0)
    outcome.error = data.get("error") or ""
    return outcome


def _seed_ranges(seeds: List[int]) -> str:
    ranges: List[List[int]] = []
    for seed in sorted(seeds):
        if ranges and seed == ranges[-1][1] + 1:
            ranges[-1][1] = seed
        else:
            ranges.append([seed, seed])
    return ", ".join("%d-%d" % (a, b) if a != b else str(a) for a, b in ranges)


def _runner(juju: str):
    """run_schedule on Juju `juju`, picklable for the process pool."""
    return functools.partial(run_schedule, profile=juju)


def merge(paths: List[str], juju: Optional[str] = None) -> Tuple[List[Outcome], float, str]:
    """The outcomes of several --json slices.

    Raises ValueError on overlapping seeds, on slices of different Juju
    profiles, or (`juju` given) on a slice of another profile than `juju`.
    """
    slices = []
    for path in paths:
        with open(path) as f:
            slices.append((path, json.load(f)))
    return _merge_loaded(slices, juju)


def _merge_loaded(
    slices: List[Tuple[str, dict]], juju: Optional[str] = None
) -> Tuple[List[Outcome], float, str]:
    outcomes: List[Outcome] = []
    elapsed = 0.0
    builds = set()
    harnesses = set()
    owner: Dict[int, str] = {}
    profiles: Dict[str, List[str]] = {}
    for path, data in slices:
        profiles.setdefault(data.get("juju") or UNRECORDED, []).append(path)
    if len(profiles) > 1:
        raise ValueError(
            "the slices ran on different Juju profiles (%s); merge one profile at a time"
            % "; ".join(
                "%s: %s" % (name, ", ".join(paths)) for name, paths in sorted(profiles.items())
            )
        )
    ran_on = next(iter(profiles), UNRECORDED)
    if juju is not None and ran_on != juju:
        raise ValueError("the slices ran on Juju profile %s, not %s" % (ran_on, juju))
    for path, data in slices:
        elapsed += float(data.get("elapsed") or 0.0)
        builds.update((data.get("charms") or {}).values() or ["(not recorded)"])
        harnesses.add(data.get("harness") or "(not recorded)")
        for item in data["outcomes"]:
            seed = item["seed"]
            if seed in owner:
                raise ValueError("seed %d is in both %s and %s" % (seed, owner[seed], path))
            owner[seed] = path
            outcomes.append(_from_json(item))
    outcomes.sort(key=lambda o: o.seed)
    header = [
        "slices merged: %d; seeds %s" % (len(slices), _seed_ranges(list(owner))),
        juju_line(ran_on),
        "charm builds: %s" % ", ".join(sorted(builds)),
        "simulator and schedules (harness key): %s" % ", ".join(sorted(harnesses)),
        "(time below: the slices' run times added up)",
    ]
    return outcomes, elapsed, "\n".join(header)


def plan_slices(first: int, count: int, size: int) -> List[Tuple[int, int]]:
    """The campaign's seeds first..first+count-1 cut into (first, last) slices of `size`."""
    if size < 1:
        raise ValueError("a slice holds at least one seed")
    end = first + count
    return [(a, min(a + size, end) - 1) for a in range(first, end, size)]


def slice_path(directory: str, first: int, last: int) -> str:
    return os.path.join(directory, "seeds-%05d-%05d.json" % (first, last))


def harness_key(root: Optional[str] = None) -> str:
    """A digest of what a seed means: the schedule generator and checkers
    (schedules.py) and the simulator (jujusim/).

    Recorded in each slice beside the charm builds; a slice run on another
    simulator or schedule generator is not reused. This file (slicing,
    reports, the command line) is left out: it does not change a seed's
    outcome. `root`: the folder holding schedules.py and jujusim/ (default:
    this file's).
    """
    here = Path(root or os.path.dirname(os.path.abspath(__file__)))
    digest = charmbuild.ContentDigest()
    simulator = ["jujusim/" + rel for rel in charmbuild.walk_files(here / "jujusim")]
    for name in ["schedules.py"] + simulator:
        digest.add(name, (here / name).read_bytes())
    return digest.key()


def _done_slice(path, first, last, builds, harness, juju=DEFAULT_JUJU) -> Optional[dict]:
    """The slice in `path` if it holds every seed of first..last, run on Juju
    `juju` with these builds and harness and no runner error; None if it must
    run (again)."""
    try:
        with open(path) as f:
            data = json.load(f)
        seeds = sorted(item["seed"] for item in data["outcomes"])
        broken = any(item.get("error") for item in data["outcomes"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    done = (
        data.get("juju") == juju
        and data.get("charms") == builds
        and data.get("harness") == harness
        and seeds == list(range(first, last + 1))
        and not broken
    )
    return data if done else None


def _write_slice(path, elapsed, builds, harness, outcomes: List[Outcome], juju) -> dict:
    """Write a slice file whole or not at all, even if the run is killed meanwhile."""
    data = {
        "juju": juju,
        "elapsed": elapsed,
        "charms": builds,
        "harness": harness,
        "outcomes": [_jsonable(o) for o in outcomes],
    }
    fd, part = tempfile.mkstemp(
        prefix=os.path.basename(path) + ".", suffix=".part", dir=os.path.dirname(path) or "."
    )
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(part, path)
    except BaseException:
        os.unlink(part)
        raise
    return data


def run_slices(
    directory, first, count, size, charms, jobs=2, runner=None, juju=DEFAULT_JUJU
) -> Tuple[str, int]:
    """Run the campaign on Juju `juju` as slices, one --json file each in `directory`.

    Resumable: a slice whose file already holds all its seeds, run on the
    same Juju profile, the same charm builds and the same simulator and
    schedule generator (`harness_key`) without a runner error, is kept; any
    other slice is run again and its file replaced. `runner(seed, charms)`
    stands in for run_schedule on `juju` in tests. Returns (merged report,
    exit code).
    """
    runner = runner or _runner(juju)
    builds = {k: os.path.basename(v) for k, v in sorted(charms.items())}
    harness = harness_key()
    os.makedirs(directory, exist_ok=True)
    slices = plan_slices(first, count, size)
    loaded = {s: _done_slice(slice_path(directory, *s), *s, builds, harness, juju) for s in slices}
    todo = [s for s in slices if loaded[s] is None]
    print(
        "%d slices of %d seeds in %s: %d done on Juju %s for these charm builds and "
        "simulator, %d to run"
        % (len(slices), size, directory, len(slices) - len(todo), juju, len(todo)),
        file=sys.stderr,
        flush=True,
    )
    seeds = [seed for a, b in todo for seed in range(a, b + 1)]
    results = _map_outcomes(runner, seeds, charms, jobs)
    mark = time.perf_counter()
    try:
        for a, b in todo:
            outcomes = [next(results) for _ in range(a, b + 1)]
            if [o.seed for o in outcomes] != list(range(a, b + 1)):
                raise RuntimeError("slice %d-%d got the outcomes of other seeds" % (a, b))
            now = time.perf_counter()
            path = slice_path(directory, a, b)
            loaded[a, b] = _write_slice(path, now - mark, builds, harness, outcomes, juju)
            mark = now
            print(
                "slice %d-%d written: %d violations"
                % (a, b, sum(1 for o in outcomes if o.violations or o.error)),
                file=sys.stderr,
                flush=True,
            )
    finally:
        results.close()  # on an error, cancel the seeds not started yet
    outcomes, elapsed, header = _merge_loaded(
        [(slice_path(directory, *s), loaded[s]) for s in slices], juju
    )
    code = 1 if any(o.violations or o.error for o in outcomes) else 0
    return header + "\n" + report(outcomes, elapsed), code


def _map_outcomes(runner, seeds, charms, jobs):
    """Outcomes of `seeds` in seed order, as they finish; one pool for the whole run."""
    if jobs <= 1 or len(seeds) <= 1:
        for seed in seeds:
            yield runner(seed, charms)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        # chunksize 1: no worker sits idle at the end while another runs a chunk.
        yield from pool.map(runner, seeds, [charms] * len(seeds), chunksize=1)


def _jsonable(outcome: Outcome) -> dict:
    # Not dataclasses.asdict: it rebuilds a Counter from (key, count) pairs.
    data = {f.name: getattr(outcome, f.name) for f in fields(outcome)}
    data["faults"], data["skipped"] = dict(outcome.faults), dict(outcome.skipped)
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=10000)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument(
        "--juju",
        help="the Juju version the seeds run on: 2.9, 3.6 or 4 (default %s); with --merge, "
        "the profile the slices must have run on" % DEFAULT_JUJU,
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--show-seed", type=int, help="print and run one schedule")
    parser.add_argument("--json", help="also write each schedule's outcome to this file")
    parser.add_argument(
        "--merge", nargs="+", metavar="FILE", help="report --json slices together, run nothing"
    )
    parser.add_argument(
        "--slices",
        metavar="DIR",
        help="run in slices of --slice-size seeds, one --json file each in DIR, and keep the "
        "slices already there for the same Juju, charm builds and simulator: an interrupted "
        "campaign resumes",
    )
    parser.add_argument("--slice-size", type=int, default=100)
    args = parser.parse_args(argv)
    if args.slice_size < 1:
        parser.error("--slice-size must be at least 1")
    if args.slices and (args.json or args.show_seed is not None or args.merge):
        parser.error("--slices writes its own files; it goes without --json, --show-seed, --merge")
    if args.juju is not None:
        try:
            by_name(args.juju)
        except ValueError as e:
            parser.error(str(e))
    if args.merge:
        try:
            outcomes, elapsed, header = merge(args.merge, args.juju)
        except (OSError, ValueError, KeyError) as e:
            parser.error("cannot merge: %s" % e)
        print(header)
        print(report(outcomes, elapsed))
        return 1 if any(o.violations or o.error for o in outcomes) else 0
    juju = args.juju or DEFAULT_JUJU
    charms = build_fixtures()
    if args.slices:
        text, code = run_slices(
            args.slices,
            args.first_seed,
            args.schedules,
            args.slice_size,
            charms,
            jobs=args.jobs,
            juju=juju,
        )
        print(text)
        return code
    print(juju_line(juju))
    if args.show_seed is not None:
        print(generate(args.show_seed).describe())
        outcomes, elapsed = campaign([args.show_seed], charms, jobs=1, juju=juju)
    else:
        seeds = list(range(args.first_seed, args.first_seed + args.schedules))
        outcomes, elapsed = campaign(seeds, charms, jobs=args.jobs, progress=100, juju=juju)
    print(report(outcomes, elapsed))
    if args.json:
        builds = {k: os.path.basename(v) for k, v in sorted(charms.items())}
        _write_slice(args.json, elapsed, builds, harness_key(), outcomes, juju)
    return 1 if any(o.violations or o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
