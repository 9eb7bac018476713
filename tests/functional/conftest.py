"""Shared fixtures of the functional tests: built fixture charms.

``built_charms`` (session-scoped) maps a fixture name, such as
``"rolling-restart"``, to the folder of that charm built by ``charmbuild``.
The first time a test asks for it, every fixture charm the session's tests
need is built at once, two builds in parallel (or taken from the cache under
``.cache/charms/``). A test says which charms it needs with the ``charms``
marker; a test that uses ``built_charms`` without the marker counts as
needing all of them. Asking for a name the prebuild missed builds it then.

Built charms are shared by the whole session: copy one before running hooks
in it.

``make_sim`` (per test) makes simulations of copies of the hand-written
``scripted`` charm (``make_sim(plan, units=3, seed=1, remove_hooks=(),
**Simulation_kwargs)``) and closes them after the test.

``juju`` (per test, parametrized) is a Juju-version profile: a test that asks
for it runs once on Juju 3.6 and once on Juju 4 (``BOTH_JUJU``). The tests
of what the layer promises to charm authors and operators ask for it (end to
end, held locks, policies, operator actions, hostile input, leadership
handover): the layer must keep each promise on both. Where such a test is
parametrized over variants of the same promise (kinds of garbage, seeds,
batch sizes), all variants run on the current Juju and the first on 3.6
(mark the test ``@pytest.mark.first_variant_on_3_6``): the profiles differ
in how data moves, which one variant exercises, and a cold ``make test``
stays under 15 minutes on two cores. The rest use ``CURRENT_JUJU``:
simulator rules, builds, digests and the campaign harness do not depend on
the layer's behaviour per version, or choose their profile themselves.
"""

from collections.abc import Mapping

import pytest

import charmbuild
from jujusim import Simulation, by_name
from jujusim.testing import scripted_charm

#: The profiles of the `juju` fixture, and the one other tests use.
BOTH_JUJU = ("3.6", "4")
CURRENT_JUJU = "4"

# Builds to run at once. The machines have 2 cores, and a build spends much of
# its time in one pip process.
PREBUILD_JOBS = 2


def pytest_collection_modifyitems(config, items):
    """Run only the first variant of a `first_variant_on_3_6` test on Juju 3.6."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (
            callspec is None
            or item.get_closest_marker("first_variant_on_3_6") is None
            or callspec.params.get("juju") != "3.6"
            or all(i == 0 for name, i in callspec.indices.items() if name != "juju")
        ):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "first_variant_on_3_6: of this parametrized test, run every variant on the "
        "current Juju and only the first on Juju 3.6",
    )
    config.addinivalue_line(
        "markers",
        "charms(*names): the fixture charms this test takes from built_charms "
        "(they are built before the first test that needs one)",
    )


class BuiltCharms(Mapping):
    """Read-only mapping of fixture name to built charm folder (pathlib.Path)."""

    def __getitem__(self, name):
        if name not in charmbuild.fixture_names():
            raise KeyError(name)
        return charmbuild.build_charm(name)

    def __iter__(self):
        return iter(charmbuild.fixture_names())

    def __len__(self):
        return len(charmbuild.fixture_names())


def _needed_charms(items):
    """Fixture charm names the collected tests need (see module docstring)."""
    needed = set()
    for item in items:
        if "built_charms" not in getattr(item, "fixturenames", ()):
            continue
        markers = list(item.iter_markers("charms"))
        if not markers:
            return set(charmbuild.fixture_names())
        for marker in markers:
            needed.update(marker.args)
    return needed


@pytest.fixture(scope="session")
def built_charms(request):
    """Map fixture charm names to their built folders; prebuild what the session needs."""
    needed = _needed_charms(request.session.items)
    unknown = needed - set(charmbuild.fixture_names())
    if unknown:
        pytest.fail(f"charms marker names unknown fixture charms: {sorted(unknown)}")
    charmbuild.prebuild(sorted(needed), jobs=PREBUILD_JOBS)
    return BuiltCharms()


@pytest.fixture
def make_sim(tmp_path):
    """Make simulations of the `scripted` charm with a plan; close them after the test."""
    sims = []

    def make(plan="", units=3, seed=1, remove_hooks=(), **kw):
        charm = scripted_charm(tmp_path / ("charm%d" % len(sims)), plan, remove_hooks)
        sim = Simulation(
            charm, units=units, seed=seed, workdir=str(tmp_path / ("w%d" % len(sims))), **kw
        )
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.close()


@pytest.fixture(params=BOTH_JUJU, ids=lambda name: "juju" + name)
def juju(request):
    """A Juju-version profile: the test runs once per name in BOTH_JUJU."""
    return by_name(request.param)
