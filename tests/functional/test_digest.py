"""The trace digests of a few runs still match the recorded reference.

A cheap guard for CI: campaign seeds 1-3 and the bench's layer roll at 3
units, recomputed on the Juju profile the reference's header names and
compared with ``tests/functional/digests/reference.txt`` (``make
check-digests`` compares all of it). The rest checks what the comparison
relies on: a changed digest is reported, the traces hold nothing
machine-specific and depend on the profile they ran on, and a reference
records its profile, which ``--check`` runs on unless told otherwise.
"""

import os
import tempfile

import pytest

import digest

RUNS = ["seed-1", "seed-2", "seed-3", "bench-layer-3"]
# The profile the reference was recorded on (2.9 for a header naming none).
JUJU = digest.reference_profile(digest.REFERENCE)

charms_marker = pytest.mark.charms(*digest.fixtures())


@pytest.fixture(scope="module")
def charms(built_charms):
    return {name: str(built_charms[name]) for name in digest.fixtures()}


@pytest.fixture(scope="module")
def traces(charms):
    return {name: digest.trace_of(name, charms, juju=JUJU) for name in RUNS}


@pytest.fixture(scope="module")
def fresh(traces):
    return {name: digest.sha256(text) for name, text in traces.items()}


@charms_marker
def test_a_few_runs_still_have_their_reference_digests(fresh):
    reference = digest.read_reference(digest.REFERENCE)
    assert digest.compare(reference, fresh) == []


@charms_marker
def test_a_digest_that_differs_from_the_reference_is_reported(fresh):
    altered = dict(fresh, **{"seed-2": "0" * 64})
    del altered["seed-3"]

    assert digest.compare(altered, fresh) == [
        "seed-2: digest %s, reference %s" % (fresh["seed-2"], "0" * 64),
        "seed-3: not in the reference",
    ]
    assert digest.compare(fresh, fresh) == []


@charms_marker
def test_the_traces_hold_no_machine_specific_paths(traces):
    for text in traces.values():
        assert digest.REPO not in text
        assert tempfile.gettempdir() + os.sep not in text


@charms_marker
def test_the_same_run_on_another_juju_profile_has_another_trace(charms, traces):
    other = "4" if JUJU != "4" else "3.6"
    for name in ("seed-1", "bench-layer-3"):
        again = digest.trace_of(name, charms, juju=JUJU)
        elsewhere = digest.trace_of(name, charms, juju=other)

        assert again == traces[name]  # the same profile: the same trace
        assert digest.first_difference(traces[name], elsewhere) is not None


@charms_marker
def test_the_first_differing_line_of_two_traces_is_shown(traces):
    text = traces["seed-2"]
    lines = text.splitlines()
    changed = "\n".join(lines[:10] + ["something else"] + lines[11:]) + "\n"
    shown = digest.first_difference(text, changed)
    assert shown.splitlines()[0] == "first difference at line 11, after:"
    assert shown.splitlines()[-2:] == ["  - %s" % lines[10], "  + something else"]
    assert digest.first_difference(text, text) is None


def test_a_reference_header_names_its_profile_and_one_naming_none_reads_as_2_9(tmp_path):
    header = digest.reference_header({"a": "/cache/a-k1"}, "fork", 2, 10.0, "why", juju="3.6")
    recorded = tmp_path / "recorded.txt"
    recorded.write_text("\n".join(header + ["seed-1 " + "a" * 64]) + "\n")
    older = tmp_path / "older.txt"
    older.write_text("# jujusim trace digests\n# Backend fork.\nseed-1 " + "a" * 64 + "\n")

    assert "# Juju profile: 3.6 (jujusim juju-3.6, JUJU_VERSION 3.6." in "\n".join(header)
    assert digest.reference_profile(str(recorded)) == "3.6"
    assert digest.reference_profile(str(older)) == "2.9"
    assert digest.read_reference(str(recorded)) == {"seed-1": "a" * 64}


class _Digests:
    """Stands in for digest.digests (no simulation): records the profile asked for."""

    def __init__(self):
        self.profiles = []

    def __call__(self, names, charms, backend="fork", jobs=2, progress=False, juju="4"):
        self.profiles.append(juju)
        for name in names:
            yield name, "b" * 64


def test_check_runs_on_the_references_profile_unless_told_otherwise(tmp_path, monkeypatch, capsys):
    runs = _Digests()
    monkeypatch.setattr(digest, "build_charms", dict)
    monkeypatch.setattr(digest, "digests", runs)
    reference = str(tmp_path / "reference.txt")

    assert digest.main(["--record", reference, "seed-1", "--juju", "3.6"]) == 0
    assert digest.reference_profile(reference) == "3.6"
    assert digest.main(["--check", reference]) == 0
    assert "Juju profile: 3.6 (the reference was recorded on 3.6)" in capsys.readouterr().out
    assert digest.main(["--check", reference, "--juju", "4"]) == 0
    assert "recorded on 3.6: expect every run to differ" in capsys.readouterr().out
    assert digest.main(["seed-2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["# Juju profile: 4", "seed-2 " + "b" * 64]

    assert runs.profiles == ["3.6", "3.6", "4", "4"]
