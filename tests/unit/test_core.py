"""The decision core on plain data: no hook tools, no fakes.

``charms.layer_coordinator.core`` takes a snapshot (requests, grants,
release records, revocations, pause, membership evidence) and decides which
grants end and which requests are granted. These tests build ledgers by
hand; the properties at the end check its invariants on generated ones.
"""

import importlib
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT

sys.path.insert(0, str(ROOT / "lib"))
core = importlib.import_module("charms.layer_coordinator.core")
Ledger, Evidence, grant_stands = core.Ledger, core.Evidence, core.grant_stands

UNITS = ["app/0", "app/1", "app/2", "app/3", "app/4"]
LOCKS = ["restart", "backup"]


def ts(n):
    """A timestamp string n seconds after a fixed moment (sorts like the times)."""
    return f"2026-01-01 00:{n // 60:02d}:{n % 60:02d}.000000Z"


def ledger(requests, grants=None, unit="app/0", leader=True, **kwargs):
    logs = []
    led = Ledger(
        unit=unit,
        leader=leader,
        requests={u: dict(locks) for u, locks in requests.items()},
        grants={u: dict(locks) for u, locks in (grants or {}).items()},
        log=lambda message, level="INFO": logs.append(message),
        now=lambda: ts(999),
        **kwargs,
    )
    led.logs = logs
    return led


def one_at_a_time(led):
    """The default policy of SimpleCoordinator with concurrency 1, on a ledger."""

    def policy(lock, unit, holders, queue):
        anyone = {u for u, locks in led.grants.items() if locks}
        return unit in anyone or (not anyone and unit == queue[0])

    return policy


def decide(led, policy=None, evidence=None):
    ended = []
    decisions = led.decide(
        policy or one_at_a_time(led),
        evidence or Evidence(),
        lambda unit, lock, t: ended.append((unit, lock, t)),
    )
    return decisions, ended


class Known(Evidence):
    """Membership evidence given as plain data."""

    def __init__(self, goal=None, departed=(), data=None):
        self.goal, self.gone, self.data = goal, set(departed), data or {}

    def goal_units(self):
        return self.goal

    def departed(self, unit):
        return unit in self.gone

    def peer_data(self, unit):
        return self.data.get(unit)


# -- grant_stands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "released", "stands"),
    [
        (ts(5), "", True),  # the granted request is still there
        (None, "", True),  # no request: a leader's self-grant before commit
        (ts(3), "", True),  # an older request: a stale copy proves nothing
        (ts(7), "", False),  # asked again: the old grant was let go
        (None, ts(5), False),  # says it released this grant
        (ts(5), ts(5), True),  # the request itself still stands
        (None, ts(4), True),  # released an older grant only
    ],
)
def test_grant_stands_reads_a_holders_data_as_the_glossary_says(requested, released, stands):
    assert grant_stands(requested, released, ts(5)) is stands


# -- decisions on hand-built ledgers ---------------------------------------------


def test_the_oldest_request_is_granted_first():
    led = ledger({"app/0": {}, "app/1": {"restart": ts(9)}, "app/2": {"restart": ts(4)}})

    decisions, _ = decide(led)

    assert [(d.kind, d.unit) for d in decisions] == [("grant", "app/2")]
    assert led.grants == {"app/2": {"restart": ts(4)}}


def test_a_grant_ends_when_its_holder_says_it_let_go_and_the_lock_moves_on():
    led = ledger(
        {"app/0": {}, "app/1": {}, "app/2": {"restart": ts(4)}},
        grants={"app/1": {"restart": ts(2)}},
        released={"app/1": {"restart": ts(2)}},
    )

    decisions, ended = decide(led)

    assert ended == [("app/1", "restart", ts(2))]
    assert [(d.kind, d.unit, d.why) for d in decisions] == [
        ("end", "app/1", "let go"),
        ("grant", "app/2", "policy"),
    ]


def test_a_holder_whose_data_says_nothing_keeps_its_grant():
    led = ledger(
        {"app/0": {}, "app/1": {}, "app/2": {"restart": ts(4)}},
        grants={"app/1": {"restart": ts(2)}},
    )

    decisions, _ = decide(led)

    assert decisions == []
    assert led.grants == {"app/1": {"restart": ts(2)}}


def test_an_unreadable_holder_keeps_its_grant_and_its_revocation():
    led = ledger(
        {"app/0": {}, "app/1": {"restart": ts(7)}},
        grants={"app/1": {"restart": ts(2)}},
        revoked={"app/1": {"restart": ts(2)}},
        unreadable={"app/1"},
    )

    decide(led)

    assert led.grants == {"app/1": {"restart": ts(2)}}
    assert led.revoked == {"app/1": {"restart": ts(2)}}


def test_a_revoked_grant_ends_and_the_request_is_not_granted_again():
    led = ledger(
        {"app/0": {}, "app/1": {"restart": ts(2)}},
        grants={"app/1": {"restart": ts(2)}},
        revoked={"app/1": {"restart": ts(2)}},
    )

    decisions, _ = decide(led)

    assert [(d.kind, d.why) for d in decisions] == [("end", "revoked")]
    assert led.grants == {}
    assert led.revoked == {"app/1": {"restart": ts(2)}}  # kept while the request is there


def test_a_revocation_is_forgotten_once_its_unit_says_it_let_go_of_the_request():
    led = ledger(
        {"app/0": {}, "app/1": {}},
        revoked={"app/1": {"restart": ts(2)}},
        released={"app/1": {"restart": ts(2)}},
    )

    decide(led)

    assert led.revoked == {}


def test_a_revocation_is_forgotten_once_its_unit_asks_again():
    led = ledger({"app/0": {}, "app/1": {"restart": ts(5)}}, revoked={"app/1": {"restart": ts(2)}})

    decide(led)

    assert led.revoked == {}


def test_a_revocation_is_kept_while_its_unit_shows_neither_request_nor_release():
    # A deposed leader's request that its own grant stood for was never
    # published; its unit drops it, and says so, in its next hook.
    led = ledger({"app/0": {}, "app/1": {}}, revoked={"app/1": {"restart": ts(2)}})

    decide(led)

    assert led.revoked == {"app/1": {"restart": ts(2)}}


def test_nothing_is_granted_while_paused_but_grants_still_end():
    led = ledger(
        {"app/0": {}, "app/1": {}, "app/2": {"restart": ts(4)}},
        grants={"app/1": {"restart": ts(2)}},
        released={"app/1": {"restart": ts(2)}},
        paused_since=ts(3),
    )

    decisions, _ = decide(led)

    assert [d.kind for d in decisions] == ["end"]
    assert led.grants == {}


def test_a_non_leader_decides_nothing_and_changes_nothing():
    led = ledger(
        {"app/1": {"restart": ts(4)}},
        grants={"app/2": {"restart": ts(2)}},
        unit="app/1",
        leader=False,
        released={"app/2": {"restart": ts(2)}},
    )

    assert decide(led) == ([], [])
    assert led.grants == {"app/2": {"restart": ts(2)}}


def test_the_leaders_own_grant_is_made_but_counts_only_from_its_next_hook():
    led = ledger({"app/0": {"restart": ts(1)}, "app/1": {"restart": ts(2)}})

    decisions, _ = decide(led)

    assert [(d.kind, d.unit) for d in decisions] == [("grant", "app/0")]
    assert led.grants == {"app/0": {"restart": ts(1)}}  # published with this hook
    assert led.pending == {"restart"}
    assert not led.granted("restart")  # no guarded work in this hook
    assert led.queue("restart") == ["app/1"]  # and nobody else gets it
    next_hook = ledger(
        {"app/0": {"restart": ts(1)}, "app/1": {"restart": ts(2)}}, grants=led.grants
    )
    assert next_hook.granted("restart")
    assert decide(next_hook) == ([], [])


def test_with_leader_last_the_leaders_own_request_waits_for_the_others():
    led = ledger({"app/0": {"restart": ts(1)}, "app/1": {"restart": ts(2)}}, leader_last=True)

    assert led.queue("restart") == ["app/1", "app/0"]
    decisions, _ = decide(led)
    assert [d.unit for d in decisions] == ["app/1"]


def test_with_leader_last_a_request_made_in_this_hook_is_not_granted_while_peers_exist():
    led = ledger({"app/0": {"restart": ts(1)}, "app/1": {}}, leader_last=True)
    led.new_locks.add("restart")

    assert decide(led) == ([], [])


def test_an_orphan_stands_until_the_end_of_the_hook():
    led = ledger({"app/0": {}}, grants={"app/0": {"restart": ts(1)}}, orphans={"restart": ts(1)})

    assert decide(led) == ([], [])
    led.orphans.clear()
    decisions, _ = decide(led)
    assert [(d.kind, d.unit) for d in decisions] == [("end", "app/0")]


@pytest.mark.parametrize(
    "evidence",
    [
        Known(goal={"app/0"}),  # goal-state no longer lists it
        Known(goal=None, departed={"app/9"}),  # no goal-state; its departed hook ran here
        Known(goal=None),  # no goal-state and no data at all: it left
    ],
)
def test_a_strangers_grant_ends_on_evidence_that_it_left(evidence):
    led = ledger({"app/0": {}}, grants={"app/9": {"restart": ts(1)}})

    decide(led, evidence=evidence)

    assert led.grants == {}


def test_a_stranger_listed_by_goal_state_whose_data_cannot_be_read_keeps_its_grant():
    led = ledger({"app/0": {}}, grants={"app/9": {"restart": ts(1)}})

    decide(led, evidence=Known(goal={"app/0", "app/9"}))

    assert led.grants == {"app/9": {"restart": ts(1)}}


def test_a_stranger_listed_by_goal_state_keeps_its_grant_while_its_data_shows_it():
    wire = importlib.import_module("charms.layer_coordinator.wire")
    data = wire.PeerData({"restart": ts(1)}, {})
    led = ledger({"app/0": {}}, grants={"app/9": {"restart": ts(1)}})

    decide(led, evidence=Known(goal={"app/0", "app/9"}, data={"app/9": data}))

    assert led.grants == {"app/9": {"restart": ts(1)}}


def test_a_stranger_that_says_it_released_loses_its_grant_even_while_listed():
    wire = importlib.import_module("charms.layer_coordinator.wire")
    data = wire.PeerData({}, {"restart": ts(1)})
    led = ledger({"app/0": {}}, grants={"app/9": {"restart": ts(1)}})

    decide(led, evidence=Known(goal={"app/0", "app/9"}, data={"app/9": data}))

    assert led.grants == {}


def test_strangers_keep_their_grants_on_a_dying_unit_or_without_the_relation():
    for kwargs in ({"dying": True}, {"has_relation": False}):
        led = ledger({"app/0": {}}, grants={"app/9": {"restart": ts(1)}}, **kwargs)

        decide(led, evidence=Known(goal={"app/0"}))

        assert led.grants == {"app/9": {"restart": ts(1)}}


# -- properties -----------------------------------------------------------------

requests_st = st.dictionaries(
    st.sampled_from(UNITS[1:]),
    st.dictionaries(st.sampled_from(LOCKS), st.integers(0, 50).map(ts), max_size=2),
)


@st.composite
def snapshots(draw):
    """A leader's snapshot: requests, grants (some stale, some released), revocations."""
    requests = draw(requests_st)
    requests["app/0"] = draw(
        st.dictionaries(st.sampled_from(LOCKS), st.integers(0, 50).map(ts), max_size=2)
    )
    grants, released, revoked = {}, {}, {}
    for unit, locks in requests.items():
        for lock, t in locks.items():
            if draw(st.booleans()):
                grants.setdefault(unit, {})[lock] = t
                if unit != "app/0" and draw(st.booleans()):
                    released.setdefault(unit, {})[lock] = t
            if draw(st.integers(0, 9)) == 0:
                revoked.setdefault(unit, {})[lock] = t
    return {
        "requests": requests,
        "grants": grants,
        "released": released,
        "revoked": revoked,
        "paused_since": draw(st.sampled_from([None, None, None, ts(0)])),
        "leader_last": draw(st.booleans()),
    }


def build(snapshot):
    return ledger(
        snapshot["requests"],
        grants=snapshot["grants"],
        released={u: dict(r) for u, r in snapshot["released"].items()},
        revoked={u: dict(r) for u, r in snapshot["revoked"].items()},
        paused_since=snapshot["paused_since"],
        leader_last=snapshot["leader_last"],
    )


def holding(led):
    return {u for u, locks in led.grants.items() if locks}


@settings(max_examples=300, deadline=None)
@given(snapshots(), st.integers(1, 3))
def test_no_decision_grants_beyond_what_the_policy_allows(snapshot, limit):
    led = build(snapshot)

    def policy(lock, unit, holders, queue):
        return unit in holding(led) or (len(holding(led)) < limit and unit == queue[0])

    before = len(holding(led))

    decide(led, policy=policy)

    # Grants that stand are not the core's to end; it adds none past the limit.
    assert len(holding(led)) <= max(limit, before)


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_every_grant_answers_a_current_unrevoked_request(snapshot):
    led = build(snapshot)

    decisions, _ = decide(led)

    for d in decisions:
        if d.kind == "grant":
            assert led.requests[d.unit][d.lock] == d.ts
            assert not led.is_revoked(d.unit, d.lock, d.ts)
            assert not snapshot["paused_since"]


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_a_grant_whose_request_stands_and_is_not_revoked_is_never_ended(snapshot):
    led = build(snapshot)
    keep = {
        (u, lock)
        for u, locks in snapshot["grants"].items()
        for lock, t in locks.items()
        if snapshot["requests"][u].get(lock) == t and snapshot["revoked"].get(u, {}).get(lock) != t
    }

    decide(led)

    for unit, lock in keep:
        assert lock in led.grants.get(unit, {})


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_deciding_twice_decides_nothing_new(snapshot):
    led = build(snapshot)
    decide(led)
    grants = {u: dict(locks) for u, locks in led.grants.items()}

    decisions, _ = decide(led)

    assert decisions == []
    assert led.grants == grants


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_grants_are_made_in_grant_order(snapshot):
    led = build(snapshot)
    order = {pair: i for i, pair in enumerate(led.waiting())}

    decisions, _ = decide(led, policy=lambda lock, unit, holders, queue: True)

    made = [order[(d.lock, d.unit)] for d in decisions if d.kind == "grant"]
    assert made == sorted(made)


# -- the original layer's release: deleting the request (issue 21) ----------------


def test_a_holder_read_in_its_own_hook_without_its_request_has_let_go():
    led = ledger(
        {"app/0": {}, "app/1": {}, "app/2": {"restart": ts(3)}},
        grants={"app/1": {"restart": ts(2)}},
        fresh={"app/1"},
        seen={"app/1": {"restart": {ts(2)}}},
    )

    decisions, _ = decide(led, one_at_a_time(led))

    assert [(d.kind, d.unit) for d in decisions] == [("end", "app/1"), ("grant", "app/2")]


def test_a_holder_without_its_request_read_in_another_hook_keeps_its_grant():
    # The agent's copy of app/1's settings may predate the request.
    led = ledger({"app/0": {}, "app/1": {}}, grants={"app/1": {"restart": ts(2)}})

    decisions, _ = decide(led)

    assert decisions == []


def test_a_grant_whose_request_the_leader_never_saw_is_no_release_when_read_fresh():
    # A leader's own request it kept unpublished, an orphan its holder takes over.
    led = ledger(
        {"app/0": {}, "app/1": {}},
        grants={"app/1": {"restart": ts(2)}},
        fresh={"app/1"},
        seen={"app/1": {"restart": {ts(1)}}},
    )

    decisions, _ = decide(led)

    assert decisions == []
