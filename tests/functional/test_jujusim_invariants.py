"""jujusim's invariant checks pass on good journals and name the culprits on bad ones."""

import pytest

from jujusim import (
    InvariantError,
    JournalEntry,
    check_all_requesters_acted,
    check_max_concurrency,
    check_no_granted_flags_at_rest,
    guarded_intervals,
)


def journal(*rows):
    return [
        JournalEntry(unit, lock, event, time, "config-changed") for unit, lock, event, time in rows
    ]


SERIAL = journal(
    ("a/0", "restart", "start", 1.0),
    ("a/0", "restart", "end", 3.0),
    ("a/1", "restart", "start", 3.0),
    ("a/1", "restart", "end", 5.0),
)
OVERLAP = journal(
    ("a/0", "restart", "start", 1.0),
    ("a/1", "restart", "start", 2.0),
    ("a/0", "restart", "end", 3.0),
    ("a/1", "restart", "end", 4.0),
)


def test_back_to_back_work_does_not_overlap():
    assert check_max_concurrency(SERIAL, allowed=1) == 1


def test_overlapping_work_is_reported_with_units_lock_and_time():
    with pytest.raises(InvariantError) as exc:
        check_max_concurrency(OVERLAP, allowed=1)
    message = str(exc.value)
    assert "lock 'restart'" in message
    assert "a/0" in message
    assert "a/1" in message
    assert "t=2.000" in message


def test_work_on_different_locks_counts_together_only_when_asked():
    rows = journal(
        ("a/0", "x", "start", 1.0),
        ("a/1", "y", "start", 2.0),
        ("a/0", "x", "end", 3.0),
        ("a/1", "y", "end", 4.0),
    )
    assert check_max_concurrency(rows, allowed=1) == 1
    with pytest.raises(InvariantError, match="any lock"):
        check_max_concurrency(rows, allowed=1, per_lock=False)


def test_work_that_never_ended_holds_its_lock_forever():
    rows = journal(
        ("a/0", "restart", "start", 1.0),
        ("a/1", "restart", "start", 50.0),
        ("a/1", "restart", "end", 51.0),
    )
    assert guarded_intervals(rows)[0].end == float("inf")
    with pytest.raises(InvariantError):
        check_max_concurrency(rows, allowed=1)


def test_a_unit_that_asked_but_never_acted_is_named():
    check_all_requesters_acted(SERIAL, live_units=["a/0", "a/1"])
    with pytest.raises(InvariantError, match="a/2"):
        check_all_requesters_acted(SERIAL, live_units=["a/0", "a/1", "a/2"])
    check_all_requesters_acted(
        SERIAL, live_units=["a/0", "a/1", "a/2"], asked=lambda u: u != "a/2"
    )


def test_grant_flags_left_at_rest_are_named():
    check_no_granted_flags_at_rest({"a/0": ["coordinator.requested.restart"]})
    with pytest.raises(InvariantError, match="a/1: coordinator.granted.restart"):
        check_no_granted_flags_at_rest({"a/0": [], "a/1": ["coordinator.granted.restart"]})
