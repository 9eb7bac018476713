"""Leader-owned data in the databag alone, or in the databag and leader settings (Juju 3.6).

Issue 20 asked, for Juju 3.6 (which keeps leader settings), whether the layer
should keep its grants in the peer relation's application databag alone or in
leader settings as well (the original layer's leader reads only leader
settings, so the second copy would make a rollback to it safe). This measures
the price of the second copy in hooks per roll, side by side on the same
seeds:

- ``databag``: the rolling-restart fixture on the layer of this working tree;
- ``databag + leader settings``: the same, with the layer's transport patched
  in a temporary copy so that every change of the grants the leader publishes
  to the databag is also written with ``leader-set`` (under the key
  ``coordinator-mirror``, so the layer's import of an older layer's grants,
  which reads the key ``coordinator``, sees nothing of it). Only the cost is
  measured: nothing reads the copy.

Each ``leader-set`` that changes something runs ``leader-settings-changed`` on
every other unit (docs/juju4-research.md; the simulator's 3.6 profile), one
more broadcast per change of the grants.

    python tests/bench/both_stores.py [--units 3,10] [--seed 1]

(with the bench's or the functional tests' environment, such as
``.tox/functional/bin/python`` after ``make test``). Prints one row per size and
variant: hooks per roll, without the config-changed that starts it, and the
difference.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "functional")]

import bench  # noqa: E402
import charmbuild  # noqa: E402

MIRROR_KEY = "coordinator-mirror"

#: The line of PeerRelationTransport.publish that writes the databag, and what
#: the variant runs after it.
WRITE = "            relation_set(self.relation_id, changes, app=True)\n"
MIRROR = (
    "            if self.key in changes and juju_major() < 4:\n"
    "                hookenv.leader_set({%r: changes[self.key] or None})\n" % MIRROR_KEY
)


def variant_layer(dest):
    """A copy of this repository's layer whose leader also writes its grants to leader settings."""
    layer = Path(dest) / "layer"
    shutil.copytree(
        charmbuild.LAYER_SOURCE,
        layer,
        ignore=shutil.ignore_patterns(
            ".git", ".tox", ".venv", ".cache", "*_cache", ".hypothesis", "tests", "docs"
        ),
    )
    transport = layer / "lib" / "charms" / "layer_coordinator" / "transport.py"
    text = transport.read_text()
    if text.count(WRITE) != 1 or "def juju_major" not in text:
        raise SystemExit("transport.py changed: update both_stores.py's patch (%s)" % transport)
    transport.write_text(text.replace(WRITE, WRITE + MIRROR))
    return layer


def roll(layer_source, units, seed):
    """One roll of the rolling-restart fixture on Juju 3.6 (bench.measure_roll's figures)."""
    build = charmbuild.build_charm
    bench.charmbuild.build_charm = lambda name: build(name, layer_source=layer_source)
    try:
        return bench.measure_roll("layer", "rolling-restart", units, seed, juju="3.6")
    finally:
        bench.charmbuild.build_charm = build


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="3,10", help="application sizes (default 3,10)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.units.split(",")]
    with tempfile.TemporaryDirectory(prefix="both-stores-") as tmp:
        both = variant_layer(tmp)
        print("units  variant                      hooks  without config-changed  3N(N-1)")
        for n in sizes:
            rows = [("databag", roll(None, n, args.seed))]
            rows.append(("databag + leader settings", roll(both, n, args.seed)))
            base = rows[0][1]["roll_hooks"] - rows[0][1]["trigger_hooks"]
            for name, f in rows:
                hooks = f["roll_hooks"] - f["trigger_hooks"]
                without = "%d (%+d)" % (hooks, hooks - base)
                print(
                    "%5d  %-27s %6d  %22s  %7d"
                    % (n, name, f["roll_hooks"], without, 3 * n * (n - 1))
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
