"""jujusim's Juju-version profile decides the hook tools, the hooks and JUJU_VERSION."""

import dataclasses
import json

import pytest

from jujusim import JUJU_2_9, Simulation, SimulationError
from jujusim.testing import scripted_charm
from jujusim.tools import run_tool

PLAN = """
import json
import os
import shutil


def install(h):
    h.log(json.dumps({
        'version': os.environ['JUJU_VERSION'],
        'goal-state': shutil.which('goal-state'),
        'is-leader': shutil.which('is-leader') is not None,
    }))
"""


def _install_report(sim, unit):
    sim.run_until_quiet()
    [message] = [r.message for r in sim.logs if r.unit == unit and r.hook == "install"]
    return json.loads(message)


def test_the_default_profile_is_juju_2_9_with_every_tool(make_sim):
    sim = make_sim(PLAN, units=1)

    report = _install_report(sim, "scripted/0")

    assert sim.profile == JUJU_2_9
    assert report["version"] == "2.9.49"
    assert report["goal-state"] is not None
    assert report["is-leader"]


def test_juju_version_overrides_the_profiles_version_string(make_sim):
    sim = make_sim(PLAN, units=1, juju_version="3.6.4")

    report = _install_report(sim, "scripted/0")

    assert report["version"] == "3.6.4"
    assert sim.profile.tools == JUJU_2_9.tools


def test_a_tool_the_profile_lacks_is_not_on_the_path(make_sim):
    tools = tuple(t for t in JUJU_2_9.tools if t != "goal-state")
    sim = make_sim(
        PLAN, units=1, profile=dataclasses.replace(JUJU_2_9, name="no-goal-state", tools=tools)
    )

    report = _install_report(sim, "scripted/0")

    assert report["goal-state"] is None
    assert report["is-leader"]


def test_a_tool_the_profile_lacks_answers_as_an_unknown_tool():
    available = tuple(t for t in JUJU_2_9.tools if t != "goal-state")

    rc, out, err = run_tool(None, ("goal-state",), b"", available)

    assert (rc, out) == (127, b"")
    assert err == b'ERROR unknown hook tool "goal-state"\n'


def test_a_profile_must_be_a_juju_profile(tmp_path):
    charm = scripted_charm(tmp_path / "charm", PLAN)

    with pytest.raises(SimulationError, match="profile must be a jujusim JujuProfile"):
        Simulation(charm, units=1, workdir=str(tmp_path / "w"), profile="4.0")
