"""Trace digests: one hash of everything a simulated run did (`make digests`).

A refactor of the layer that claims to change no behaviour must leave every
digest as it was. A run is either a campaign seed (``seed-N``: the schedule
``fuzz.py --show-seed N`` prints, run as the campaign runs it) or one of the
bench's rolls of the ``layer`` configuration (``bench-layer-N``: N units,
seed 1, as ``tests/bench/bench.py`` measures it), on one Juju version, a
jujusim profile (``--juju``: 4, the current Juju, unless told otherwise).
A reference file's header records the profile it was recorded on, and
``--check`` runs on that one unless ``--juju`` says otherwise; a reference
from before headers named one counts as ``2.9`` (jujusim's rules then). Its
canonical trace holds,
in simulated-time order: every hook's begin and its commit or failure (unit,
hook, remote unit, leadership at begin, exit code), every hook-tool call
(arguments, the settings it read, exit code, stdout, stderr), the journal of
guarded work, each change of leader, of renewal, of the leader settings and
(only if it ever changed) of the coordinator relation's application databag,
and, for a campaign seed, the outcome (faults injected, violations); then the
final model: who leads, the leader settings, the config, every unit's peer
settings (with their change versions) and, if it was ever written, the
application databag, each unit's agent state, status,
flags and unitdata, and the actions. Simulated times are printed to the
microsecond. Left out or normalised, so that nothing machine-specific leaks
in: temporary and socket paths, the repository and Python paths (replaced by
placeholders), hook context ids (replaced by the hook's number), the hook
processes' CPU seconds and their stdout/stderr (``HookRecord.output``: it
holds tracebacks with file paths and line numbers).

Usage (from the repository, with the functional env's Python, or ``tox -e
digest -- ...``)::

    python tests/functional/digest.py seed-1 bench-layer-3      # "name sha256" lines
    python tests/functional/digest.py --seeds 1-20 --backend exec --juju 3.6
    python tests/functional/digest.py --record FILE --seeds 1-500 --bench 3,10 --note WHY
    python tests/functional/digest.py --check FILE [--seeds 1-3] [--bench 3] [RUN...]
    python tests/functional/digest.py --dump seed-17 > before.txt  # the canonical trace
    python tests/functional/digest.py --diff before.txt seed-17    # first differing line

``--check`` recomputes the runs named (default: every run in FILE) and exits
1 if any digest differs or is missing. To see why one differs, dump its trace
on the reference commit and ``--diff`` it on the new code. ``--jobs N`` runs
N simulations at once (default 2); ``--backend`` picks jujusim's backend
(default fork, as the campaign and the bench run; exec gives the same
digests). The reference of record is ``tests/functional/digests/reference.txt``
(``make digests`` records it, ``make check-digests`` compares).
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "bench"))

import bench  # noqa: E402
import charmbuild  # noqa: E402
from jujusim import by_name  # noqa: E402
from schedules import DEFAULT_JUJU, FIXTURES, ScheduleRun, generate  # noqa: E402

REFERENCE = os.path.join(HERE, "digests", "reference.txt")
# The profile of a reference whose header names none: jujusim's default rules
# when such files were recorded.
LEGACY_JUJU = bench.LEGACY_JUJU
_PROFILE_LINE = re.compile(r"^# Juju profile: (\S+)")
BENCH_CONFIG = "layer"
BENCH_SEED = 1
_RUN = re.compile(r"^(?:seed-(\d+)|bench-layer-(\d+))$")
_CONTEXT_ID = re.compile(r"[a-z][a-z0-9-]*/\d+-[a-z0-9-]+-\d{6,}")


def bench_fixture() -> str:
    return dict(bench.CONFIGS)[BENCH_CONFIG]


def fixtures() -> List[str]:
    """Every fixture charm a run may need."""
    return sorted(set(FIXTURES) | {bench_fixture()})


# -- the canonical trace -------------------------------------------------------------------


class Normaliser(object):
    """Replaces machine-specific text (paths, context ids) with placeholders."""

    def __init__(self, sim, charm: str):
        paths = [
            (sim.workdir, "<workdir>"),
            (os.path.dirname(sim.socket_path), "<sockdir>"),
            (os.path.realpath(charm), "<charm>"),
            (charm, "<charm>"),
            (REPO, "<repo>"),
            (sys.prefix, "<prefix>"),
            (sys.base_prefix, "<base-prefix>"),
        ]
        # Longest first, so that a path inside another is replaced whole.
        self.paths = sorted(((p, r) for p, r in paths if p), key=lambda x: -len(x[0]))
        self.tmp = re.compile(re.escape(tempfile.gettempdir()) + r"/[^\s'\"\[\](),:;]+")
        self.hook_of: Dict[str, str] = {}

    def text(self, value) -> str:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "backslashreplace")
        for path, placeholder in self.paths:
            value = value.replace(path, placeholder)
        value = self.tmp.sub("<tmp>", value)
        return _CONTEXT_ID.sub(lambda m: self.hook_of.get(m.group(0), m.group(0)), value)

    def quoted(self, value) -> str:
        return json.dumps(self.text(value))

    def data(self, value) -> str:
        """A JSON value, normalised, keys sorted, on one line."""
        return self.text(json.dumps(value, sort_keys=True, default=repr))


def _t(when: float) -> str:
    return "%.6f" % when


def canonical_trace(sim, charm: str, header: List[str]) -> str:
    """The canonical text of everything `sim` did (see the module docstring)."""
    norm = Normaliser(sim, charm)
    number = 0
    for record in sim.trace:
        if record.event == "begin":
            number += 1
            norm.hook_of[record.context_id] = "H%d" % number
    events: List[Tuple[float, int, int, str]] = []
    for i, r in enumerate(sim.trace):
        hook = norm.hook_of.get(r.context_id, "H?")
        remote = r.remote_unit or "-"
        if r.event == "begin":
            line = "%s begin %s %s remote=%s leader=%s" % (
                hook,
                r.unit,
                r.hook,
                remote,
                "yes" if r.leader else "no",
            )
            events.append((r.time, 2, i, line))
        else:
            line = "%s %s %s %s remote=%s rc=%s" % (
                hook,
                r.event,
                r.unit,
                r.hook,
                remote,
                r.exit_code,
            )
            events.append((r.time, 1, i, line))
    for i, c in enumerate(sim.tool_calls):
        line = "%s call %s in=%s -> rc=%d out=%s err=%s" % (
            norm.hook_of.get(c.context_id, "H?"),
            norm.data(list(c.argv)),
            norm.quoted(c.stdin),
            c.rc,
            norm.quoted(c.stdout),
            norm.quoted(c.stderr),
        )
        events.append((c.time, 3, i, line))
    for i, j in enumerate(sim.journal):
        line = "journal %s %s %s in %s" % (j.unit, j.event, j.lock, j.hook)
        events.append((j.time, 4, i, line))
    for i, (when, leader) in enumerate(sim.leader_history):
        events.append((when, 0, i, "leader %s" % (leader or "-")))
    for i, (when, unit, index) in enumerate(sim.renewal_lost_history):
        events.append(
            (when, 0, 100000 + i, "renewal-lost %s after leader change %d" % (unit, index))
        )
    for i, (when, settings) in enumerate(sim.leader_settings_history):
        events.append((when, 4, 100000 + i, "leader-settings %s" % norm.data(settings)))
    # The application databag's committed changes (only when there are any,
    # so digests of runs that never write it stay as they were).
    for i, (when, settings) in enumerate(getattr(sim, "app_data_history", [])):
        events.append((when, 4, 200000 + i, "app-data %s" % norm.data(settings)))
    # At equal times: a change of leader, then hook ends, then begins, then
    # tool calls, then what a call recorded (journal, leader settings).
    events.sort(key=lambda e: (round(e[0], 6), e[1], e[2]))
    lines = list(header)
    lines.append("events:")
    lines.extend("%s %s" % (_t(when), line) for when, _, _, line in events)
    lines.append("final model at %s:" % _t(sim.now))
    lines.extend(_final_model(sim, norm))
    return "\n".join(lines) + "\n"


def _final_model(sim, norm: Normaliser) -> List[str]:
    model = sim.model
    lines = [
        "leader %s renewal-lost %s" % (model.leader or "-", model.renewal_lost or "-"),
        "leader-settings v%d %s"
        % (model.leader_settings_version, norm.data(model.leader_settings)),
        "config v%d %s" % (model.config_version, norm.data(model.config)),
        "charm v%d" % model.charm_version,
        "application status %s %s" % (model.app_status, norm.quoted(model.app_message)),
    ]
    for rid, rel in sorted(model.relations.items()):
        lines.append("relation %s scope %s" % (rid, norm.data(rel.scope)))
        for unit, record in sorted(rel.settings.items()):
            lines.append("  settings %s v%d %s" % (unit, record.version, norm.data(record.data)))
        app = getattr(rel, "app_settings", None)
        if app is not None and app.version:
            lines.append("  app-settings v%d %s" % (app.version, norm.data(app.data)))
    for name in sorted(model.units, key=_unit_number):
        u = model.units[name]
        error = u.error_hook.describe() if u.error_hook is not None else "-"
        lines.append(
            "unit %s alive=%s dying=%s installed=%s started=%s stopped=%s error=%s x%d"
            % (name, u.alive, u.dying, u.installed, u.started, u.stopped, error, u.error_count)
        )
        lines.append(
            "  status %s %s ports %s version %s"
            % (
                u.workload_status,
                norm.quoted(u.workload_message),
                norm.data(u.opened_ports),
                norm.quoted(u.workload_version),
            )
        )
        lines.append("  flags %s" % norm.data(sorted(sim.flags(name))))
        lines.append("  unitdata %s" % norm.data(sim.unit_kv(name)))
    for action_id, action in sorted(model.actions.items()):
        lines.append(
            "action %s %s %s %s %s %s"
            % (
                action_id,
                action.unit,
                action.name,
                action.status,
                norm.data(action.results),
                norm.quoted(action.message),
            )
        )
    return lines


def _unit_number(name: str):
    app, _, number = name.partition("/")
    return (app, int(number) if number.isdigit() else -1)


# -- the runs -------------------------------------------------------------------------------


def check_run_name(name: str) -> str:
    if not _RUN.match(name):
        raise ValueError("%r is not a run: use seed-N or bench-layer-N" % (name,))
    return name


def trace_of(
    name: str, charms: Dict[str, str], backend: str = "fork", juju: str = DEFAULT_JUJU
) -> str:
    """Run `name` (seed-N or bench-layer-N) on Juju `juju`; return its canonical trace."""
    m = _RUN.match(name)
    if m is None:
        raise ValueError("%r is not a run: use seed-N or bench-layer-N" % (name,))
    if m.group(1):
        schedule = generate(int(m.group(1)))
        charm = charms[schedule.fixture]
        with tempfile.TemporaryDirectory(prefix="digest-") as workdir:
            run = ScheduleRun(schedule, charms, workdir, backend=backend, profile=juju)
            outcome = run.run()  # closes the simulation; its files stay until here
            error = outcome.error.strip().splitlines()[-1] if outcome.error else ""
            header = ["run %s" % name] + schedule.describe().splitlines()
            header.append(
                "outcome hooks=%d faults=%s skipped=%s violations=%s explained=%s error=%s"
                % (
                    outcome.hooks,
                    json.dumps(dict(sorted(outcome.faults.items()))),
                    json.dumps(dict(sorted(outcome.skipped.items()))),
                    json.dumps(outcome.violations),
                    json.dumps(outcome.explained),
                    json.dumps(error),
                )
            )
            return canonical_trace(run.sim, charm, header)
    units = int(m.group(2))
    charm = charms[bench_fixture()]
    header = [
        "run %s" % name,
        "bench roll: %s configuration, %d units, seed %d" % (BENCH_CONFIG, units, BENCH_SEED),
    ]
    figures = bench.measure_roll(
        BENCH_CONFIG,
        bench_fixture(),
        units,
        BENCH_SEED,
        juju=juju,
        backend=backend,
        inspect=lambda sim: canonical_trace(sim, charm, header),
    )
    return figures["inspected"]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _job(name: str, charms: Dict[str, str], backend: str, juju: str) -> Tuple[str, str]:
    return name, sha256(trace_of(name, charms, backend, juju))


def digests(
    names: List[str],
    charms: Dict[str, str],
    backend="fork",
    jobs=2,
    progress=False,
    juju=DEFAULT_JUJU,
):
    """Yield (name, sha256) for each run on Juju `juju`, in the order of `names`."""
    if jobs <= 1 or len(names) <= 1:
        for i, name in enumerate(names, 1):
            yield _job(name, charms, backend, juju)
            _progress(progress, i, len(names))
        return
    n = len(names)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(_job, names, [charms] * n, [backend] * n, [juju] * n, chunksize=1)
        for i, item in enumerate(results, 1):
            yield item
            _progress(progress, i, len(names))


def _progress(enabled: bool, done: int, total: int):
    if enabled and (done % 20 == 0 or done == total):
        print("... %d of %d runs" % (done, total), file=sys.stderr, flush=True)


def build_charms() -> Dict[str, str]:
    return {name: str(path) for name, path in charmbuild.prebuild(fixtures(), jobs=2).items()}


# -- reference files ------------------------------------------------------------------------


def read_reference(path: str) -> Dict[str, str]:
    """{run name: sha256} from a reference file (lines "name sha256"; # comments)."""
    result = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2 or not re.fullmatch(r"[0-9a-f]{64}", parts[1]):
                raise ValueError("%s:%d: expected 'name sha256', got %r" % (path, number, line))
            result[check_run_name(parts[0])] = parts[1]
    return result


def reference_profile(path: str) -> str:
    """The Juju profile a reference file's header says it was recorded on;
    LEGACY_JUJU if it says none."""
    with open(path) as f:
        for line in f:
            m = _PROFILE_LINE.match(line)
            if m:
                return m.group(1).rstrip(".")
            if line.strip() and not line.startswith("#"):
                break
    return LEGACY_JUJU


def compare(reference: Dict[str, str], got: Dict[str, str]) -> List[str]:
    """Lines describing every run whose digest differs from the reference or is missing."""
    problems = []
    for name, sha in got.items():
        want = reference.get(name)
        if want is None:
            problems.append("%s: not in the reference" % name)
        elif want != sha:
            problems.append("%s: digest %s, reference %s" % (name, sha, want))
    return problems


def first_difference(expected: str, actual: str) -> Optional[str]:
    """A description of the first line where two traces differ; None if equal."""
    old, new = expected.splitlines(), actual.splitlines()
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else "<end of trace>"
        b = new[i] if i < len(new) else "<end of trace>"
        if a != b:
            context = ["    %s" % line for line in old[max(0, i - 3) : i]]
            return "\n".join(
                ["first difference at line %d, after:" % (i + 1)]
                + context
                + ["  - %s" % a, "  + %s" % b]
            )
    return None


def _git(*args) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.strip() or "unknown"


def reference_header(charms, backend, jobs, elapsed, note, juju=DEFAULT_JUJU) -> List[str]:
    layer_commit = _git(
        "log", "-1", "--format=%h %s", "--", "lib", "reactive", "hooks", "actions", "layer.yaml"
    )
    lines = [
        "# jujusim trace digests, one line per run: name sha256 (tests/functional/digest.py).",
        "# Recorded on commit %s; the layer's files (lib/, reactive/, hooks/, actions/,"
        % _git("rev-parse", "--short", "HEAD"),
        "# layer.yaml) last changed in %s." % layer_commit,
        "# Charm builds: %s."
        % ", ".join(sorted(os.path.basename(p) for p in set(charms.values()))),
        "# Juju profile: %s (jujusim %s, JUJU_VERSION %s): every run below ran on it."
        % (juju, by_name(juju).name, by_name(juju).version),
        "# Backend %s, %d jobs, %.0f s." % (backend, jobs, elapsed),
    ]
    for paragraph in (note or "").splitlines():
        lines.extend("# %s" % line for line in textwrap.wrap(paragraph, 90))
    return lines


# -- command line ---------------------------------------------------------------------------


def _ranges(text: str) -> List[int]:
    values = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        try:
            first, last = int(a), int(b or a)
        except ValueError:
            raise argparse.ArgumentTypeError("give seeds as 1-500 or 1,5,9-12") from None
        if first < 1 or last < first:
            raise argparse.ArgumentTypeError("bad range %r" % part)
        values.extend(range(first, last + 1))
    return values


def _selected(args) -> List[str]:
    names = ["bench-layer-%d" % n for n in args.bench or []]
    names += ["seed-%d" % n for n in args.seeds or []]
    for name in args.runs:
        if name not in names:
            names.append(check_run_name(name))
    return names


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", metavar="RUN", help="seed-N or bench-layer-N")
    parser.add_argument("--seeds", type=_ranges, help="campaign seeds, e.g. 1-500")
    parser.add_argument("--bench", type=_ranges, help="bench roll sizes, e.g. 3,10")
    parser.add_argument("--backend", default="fork", choices=("fork", "exec"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--juju",
        help="the Juju version (jujusim profile) to run on: 2.9, 3.6 or 4; default %s, and "
        "with --check the one the reference's header names" % DEFAULT_JUJU,
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--record", metavar="FILE", help="write the digests as a reference file")
    group.add_argument("--check", metavar="FILE", help="compare with a reference file")
    group.add_argument("--dump", metavar="RUN", help="print the canonical trace of one run")
    group.add_argument(
        "--diff",
        nargs=2,
        metavar=("DUMP", "RUN"),
        help="run RUN and print the first line where its trace differs from DUMP",
    )
    parser.add_argument("--note", help="--record: why the reference is (re-)recorded")
    args = parser.parse_args(argv)
    try:
        names = _selected(args)
        if args.juju is not None:
            by_name(args.juju)
    except ValueError as e:
        parser.error(str(e))
    juju = args.juju or DEFAULT_JUJU
    if args.check:
        reference = read_reference(args.check)
        names = names or list(reference)
        recorded_on = reference_profile(args.check)
        juju = args.juju or recorded_on
        print(
            "Juju profile: %s (the reference was recorded on %s%s)"
            % (juju, recorded_on, "" if juju == recorded_on else ": expect every run to differ")
        )
    elif not (args.dump or args.diff) and names:
        print("# Juju profile: %s" % juju)

    charms = build_charms()
    if args.dump or args.diff:
        name = args.dump or args.diff[1]
        try:
            check_run_name(name)
        except ValueError as e:
            parser.error(str(e))
        text = trace_of(name, charms, args.backend, juju)
        if args.dump:
            sys.stdout.write(text)
            return 0
        with open(args.diff[0]) as f:
            difference = first_difference(f.read(), text)
        print(difference or "%s: the traces are identical" % name)
        return 1 if difference else 0

    if not names:
        parser.error("name the runs: RUN..., --seeds or --bench")
    started = time.perf_counter()
    got = {}
    for name, sha in digests(
        names, charms, args.backend, args.jobs, progress=len(names) > 20, juju=juju
    ):
        got[name] = sha
        if not args.record:
            print("%s %s" % (name, sha), flush=True)
    elapsed = time.perf_counter() - started

    if args.record:
        lines = reference_header(charms, args.backend, args.jobs, elapsed, args.note, juju)
        lines += ["%s %s" % item for item in got.items()]
        os.makedirs(os.path.dirname(os.path.abspath(args.record)), exist_ok=True)
        with open(args.record, "w") as f:
            f.write("\n".join(lines) + "\n")
        print("%d digests written to %s in %.0f s" % (len(got), args.record, elapsed))
        return 0
    if args.check:
        problems = compare(reference, got)
        for line in problems:
            print("MISMATCH " + line)
        print(
            "%d runs checked against %s in %.0f s: %d match, %d differ"
            % (len(got), args.check, elapsed, len(got) - len(problems), len(problems))
        )
        if problems:
            print(
                "To see why, on the reference's commit: digest.py --dump RUN > ref.txt;"
                " then here: digest.py --diff ref.txt RUN"
            )
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
