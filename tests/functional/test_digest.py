"""The trace digests of a few runs still match the recorded reference.

A cheap guard for CI: campaign seeds 1-3 and the bench's layer roll at 3
units, recomputed and compared with ``tests/functional/digests/reference.txt``
(``make check-digests`` compares all of it).
"""

import os
import tempfile

import pytest

import digest

RUNS = ["seed-1", "seed-2", "seed-3", "bench-layer-3"]

pytestmark = pytest.mark.charms(*digest.fixtures())


@pytest.fixture(scope="module")
def traces(built_charms):
    charms = {name: str(built_charms[name]) for name in digest.fixtures()}
    return {name: digest.trace_of(name, charms) for name in RUNS}


@pytest.fixture(scope="module")
def fresh(traces):
    return {name: digest.sha256(text) for name, text in traces.items()}


def test_a_few_runs_still_have_their_reference_digests(fresh):
    reference = digest.read_reference(digest.REFERENCE)
    assert digest.compare(reference, fresh) == []


def test_a_digest_that_differs_from_the_reference_is_reported(fresh):
    altered = digest.read_reference(digest.REFERENCE)
    altered["seed-2"] = "0" * 64
    assert digest.compare(altered, fresh) == [
        "seed-2: digest %s, reference %s" % (fresh["seed-2"], "0" * 64)
    ]


def test_the_traces_hold_no_machine_specific_paths(traces):
    for text in traces.values():
        assert digest.REPO not in text
        assert tempfile.gettempdir() + os.sep not in text


def test_the_first_differing_line_of_two_traces_is_shown(traces):
    text = traces["seed-2"]
    lines = text.splitlines()
    changed = "\n".join(lines[:10] + ["something else"] + lines[11:]) + "\n"
    shown = digest.first_difference(text, changed)
    assert shown.splitlines()[0] == "first difference at line 11, after:"
    assert shown.splitlines()[-2:] == ["  - %s" % lines[10], "  + something else"]
    assert digest.first_difference(text, text) is None
