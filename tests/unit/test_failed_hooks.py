"""A hook that fails after its unit was granted a lock (found by the issue 5 campaign).

Now the grants commit with the hook, together with the requests: a failed
hook commits neither (first test). The earlier revision of this layer kept
grants in leader settings and published the leader's grant to itself at
once, so a leader hook that failed after its guarded work began left a
grant without its request: Juju retried the hook with the request rolled
back and the grant kept. A unit refreshed from that revision can still
find such a grant (an *orphan*). The retried hook's request must take it
over, so that no other unit is granted the lock in between; a grant nobody
asks for again in the retried hook is handed on when it ends.
"""

import json

import pytest

from conftest import unit_flags, unit_memory


def acquire(lock, hold=False):
    import charms.coordinator

    return charms.coordinator.acquire(lock, hold=hold)


def release(lock):
    import charms.coordinator

    return charms.coordinator.release(lock)


# The failing hook, and so its retry (Juju runs no other hook on a unit in
# error): the leader reads app/1's requests in it.
HOOK = {"name": "coordinator-relation-changed", "remote": "app/1"}


def _peer_asks(model, unit="app/1"):
    model.run(unit, handler=lambda: acquire("restart"))


def test_a_failed_leader_hook_commits_neither_its_grant_nor_its_request(model):
    model.run("app/0", "update-status")
    _peer_asks(model)

    def ask_then_die():
        assert acquire("restart") is False  # granted, usable from the next hook
        raise RuntimeError("the hook dies")

    with pytest.raises(RuntimeError):
        model.run("app/0", handler=ask_then_die, **HOOK)
    assert model.grants() == {}
    assert model.requests_of("app/0") == {}

    model.run("app/0", **HOOK)  # Juju retries it; the charm does not ask this time
    assert list(model.grants()) == ["app/1"]


def _leader_fails_after_its_guarded_work(model, hold=False):
    """What the earlier revision left: the leader's grant without its request.

    The leader asked, published its grant at once (leader-set), began its
    work, and its hook died, rolling the request back.
    """
    grant = "2026-01-01 00:00:00.000000Z"
    model.app_data["coordinator"] = json.dumps({"app/0": {"restart": grant}})
    assert model.requests_of("app/0") == {}
    return grant


@pytest.mark.parametrize("hold", [False, True])
def test_retried_hook_that_asks_again_keeps_the_grant_of_the_failed_one(model, hold):
    model.run("app/0", "update-status")  # the leader's view of its peers is current
    grant = _leader_fails_after_its_guarded_work(model, hold=hold)
    _peer_asks(model)  # app/1 asks meanwhile; the retry reads its request
    seen = {}

    def retry():
        seen["flags at start"] = unit_flags(model, "app/0")
        seen["grants at start"] = model.grants()
        return acquire("restart", hold=hold)

    hook = model.run("app/0", handler=retry, **HOOK)

    assert hook.result is True  # granted at once, the original request kept
    assert seen["grants at start"] == {"app/0": {"restart": grant}}
    assert "coordinator.granted.restart" in hook.flags_in_handler
    if hold:
        assert model.grants() == {"app/0": {"restart": grant}}
        # The grant stands for the request, which unitdata keeps.
        assert model.requests_of("app/0") == {}
        assert unit_memory(model, "app/0", "coordinator.local-requests") == {"restart": grant}
        assert unit_flags(model, "app/0") == {"coordinator.granted.restart"}
    else:  # released at the end of the retried hook, and handed on
        assert list(model.grants()) == ["app/1"]
        assert model.requests_of("app/0") == {}


def test_a_held_lock_taken_over_by_the_retry_is_handed_on_at_release(model):
    model.run("app/0", "update-status")
    _leader_fails_after_its_guarded_work(model, hold=True)
    _peer_asks(model)
    model.run("app/0", handler=lambda: acquire("restart", hold=True), **HOOK)
    assert list(model.grants()) == ["app/0"]

    model.run("app/0", "update-status", handler=lambda: release("restart"))

    assert list(model.grants()) == ["app/1"]


def test_grant_that_the_retried_hook_does_not_ask_for_again_is_handed_on(model):
    model.run("app/0", "update-status")
    _leader_fails_after_its_guarded_work(model)
    _peer_asks(model)
    seen = {}

    def retry_without_asking():
        import charms.coordinator

        seen["holders"] = charms.coordinator.holders("restart")

    model.run("app/0", handler=retry_without_asking, **HOOK)

    assert seen["holders"] == ["app/0"]  # kept while the hook might still ask
    assert list(model.grants()) == ["app/1"]
    assert unit_flags(model, "app/0") == set()


def test_releasing_a_grant_of_a_failed_hook_hands_it_on(model):
    model.run("app/0", "update-status")
    _leader_fails_after_its_guarded_work(model)
    _peer_asks(model)

    hook = model.run("app/0", handler=lambda: release("restart"), **HOOK)

    assert hook.result is True  # there was a grant to give up
    assert list(model.grants()) == ["app/1"]
    assert any(
        "releases 'restart' (granted for a request it had no record of)" in m
        for m in model.messages("app/0")
    )


def test_a_deposed_leader_retrying_its_hook_lets_the_old_grant_go_and_asks_again(model):
    model.run("app/0", "update-status")
    grant = _leader_fails_after_its_guarded_work(model, hold=True)
    model.leader = "app/1"
    model.run("app/1", "leader-elected")
    model.run("app/2", handler=lambda: acquire("restart"))
    model.run("app/1", "coordinator-relation-changed", remote="app/2")
    assert list(model.grants()) == ["app/0"]  # app/2 waits: app/0 may be working

    hook = model.run("app/0", handler=lambda: acquire("restart", hold=True), **HOOK)

    # Only a leader takes an orphan over (issue 21): as a minion it lets the
    # old grant go, says so, and queues behind app/2.
    assert hook.result is False
    assert model.requests_of("app/0")["restart"] > grant
    assert json.loads(model.settings["app/0"]["coordinator-released"]) == {"restart": grant}
    model.run("app/1", "coordinator-relation-changed", remote="app/0")
    assert list(model.grants()) == ["app/2"]


def test_a_new_request_after_a_committed_release_is_not_an_orphan(model):
    # A minion that released says so; a later request is a new one, and the
    # application databag's old grant (not yet revoked by the leader) is not reused.
    _peer_asks(model)
    model.run("app/0", **HOOK)  # the leader grants app/1
    old = model.grants()["app/1"]["restart"]
    model.run("app/1", "coordinator-relation-changed")  # works, releases, says so
    assert json.loads(model.settings["app/1"]["coordinator-released"]) == {"restart": old}
    assert model.grants()["app/1"]["restart"] == old  # the leader has not seen it yet

    hook = model.run("app/1", "config-changed", handler=lambda: acquire("restart"))

    assert hook.result is False
    assert model.requests_of("app/1")["restart"] > old


def test_requests_kept_locally_survive_a_commit_juju_refuses(model):
    # A leader asks before the peer relation exists (kept in unitdata); in
    # the first hook with the relation it publishes the request and grants
    # itself, and its lease lapses before Juju commits that hook. unitdata
    # was flushed when the process exited, the relation writes were refused.
    model.relation = False
    model.run("app/0", "install", handler=lambda: acquire("restart"))
    model.relation = True
    model.lease_lapses_before_commit = "app/1"

    hook = model.run("app/0", "coordinator-relation-created")

    assert hook.commit_refused
    assert model.requests_of("app/0") == {}
    model.run("app/0", "coordinator-relation-created")  # Juju retries it
    assert list(model.requests_of("app/0")) == ["restart"]
    model.run("app/1", "coordinator-relation-changed", remote="app/0")
    assert list(model.grants()) == ["app/0"]
    model.run("app/0", "coordinator-relation-changed")  # works and releases
    model.run("app/0", "update-status")
    assert model.requests_of("app/0") == {}
    assert unit_flags(model, "app/0") == set()
