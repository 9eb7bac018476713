"""Operator actions and queue visibility (issue 7), at the hookenv boundary."""

import json

import pytest

from conftest import unit_flags


def acquire(lock, **kw):
    import charms.coordinator

    return charms.coordinator.acquire(lock, **kw)


def request(model, unit, lock="restart"):
    model.run(unit, "config-changed", handler=lambda: acquire(lock))


def leader_sees(model, unit):
    model.run(model.leader, "coordinator-relation-changed", remote=unit)


@pytest.fixture
def queued(model):
    """app/1 holds restart; app/2 waits."""
    for unit in ("app/1", "app/2"):
        request(model, unit)
        leader_sees(model, unit)
    return model


def test_status_shows_holder_queue_policy_and_pause_state(queued):
    results, failed = queued.action("app/2", "coordinator-status")

    assert failed is None
    locks = json.loads(results["locks"])
    assert [h["unit"] for h in locks[0]["holders"]] == ["app/1"]
    assert [q["unit"] for q in locks[0]["queue"]] == ["app/2"]
    assert results["paused"] == "false"
    assert results["leader"] == "app/0"
    assert json.loads(results["policy"]) == {
        "class": "SimpleCoordinator",
        "order": "fifo",
        "concurrency": 1,
    }
    assert "held by app/1" in results["summary"]
    assert "1. app/2 waiting" in results["summary"]


def test_status_with_nothing_requested_says_so(model):
    results, _ = model.action("app/1", "coordinator-status")

    assert "no lock is held or requested" in results["summary"]


def test_pause_stops_new_grants_and_resume_grants_at_once(queued):
    results, failed = queued.action("app/0", "coordinator-pause")
    assert failed is None
    assert results["paused"] == "true"
    queued.run("app/1", "coordinator-relation-changed")  # app/1 releases
    leader_sees(queued, "app/1")
    assert queued.grants() == {}  # paused: app/2 keeps waiting

    results, failed = queued.action("app/0", "coordinator-resume")

    assert failed is None
    assert list(queued.grants()) == ["app/2"]


def test_pause_survives_a_change_of_leader(queued):
    queued.action("app/0", "coordinator-pause")
    queued.run("app/1", "coordinator-relation-changed")
    queued.leader = "app/1"

    queued.run("app/1", "leader-elected")

    assert queued.grants() == {}
    assert queued.app_data.get("coordinator-paused")


def test_paused_leader_does_not_grant_itself(model):
    model.action("app/0", "coordinator-pause")

    assert model.run("app/0", handler=lambda: acquire("restart")).result is False


@pytest.mark.parametrize("action", ["coordinator-pause", "coordinator-resume"])
def test_pause_and_resume_on_a_non_leader_fail_naming_the_leader(queued, action):
    _, failed = queued.action("app/2", action)

    assert failed
    assert "app/0" in failed
    assert "leader" in failed


def test_release_revokes_a_stuck_holder_and_grants_the_next(queued):
    results, failed = queued.action("app/0", "coordinator-release", unit="app/1")

    assert failed is None
    assert json.loads(results["revoked"]) == ["restart"]
    assert list(queued.grants()) == ["app/2"]


def test_revoked_unit_drops_its_request_when_it_recovers(queued):
    queued.action("app/0", "coordinator-release", unit="app/1", lock="restart")

    hook = queued.run("app/1", "config-changed")  # the retried hook, after resolve

    assert "coordinator.granted.restart" not in hook.flags_in_handler
    assert queued.requests_of("app/1") == {}
    assert unit_flags(queued, "app/1") == set()
    leader_sees(queued, "app/1")
    assert "coordinator-revoked" not in queued.app_data  # cleaned up


def test_release_of_a_unit_holding_nothing_fails_clearly(queued):
    _, failed = queued.action("app/0", "coordinator-release", unit="app/2")

    assert "app/2 holds no lock" in failed
    assert "app/1" in failed  # names the current holders


def test_release_needs_a_unit(queued):
    _, failed = queued.action("app/0", "coordinator-release")

    assert "unit=" in failed


def test_queue_position_and_holders_for_charm_code(queued):
    def handler():
        import charms.coordinator

        return charms.coordinator.queue_position("restart"), charms.coordinator.holders("restart")

    assert queued.run("app/2", handler=handler).result == (1, ["app/1"])
    assert queued.run("app/1", handler=handler).result[0] is None


def test_waiting_status_shows_queue_place_and_restores_afterwards(queued):
    queued.options["waiting_status"] = True
    queued.status["app/2"] = ("active", "Live")

    queued.run("app/2", "update-status")
    assert queued.status["app/2"] == ("waiting", "Waiting for lock 'restart': 1 of 1 in queue")

    queued.run("app/1", "coordinator-relation-changed")
    leader_sees(queued, "app/1")  # app/2 is granted now
    queued.run("app/2", "coordinator-relation-changed")

    assert queued.status["app/2"] == ("active", "Live")


def test_waiting_status_never_overwrites_a_status_set_in_the_hook(queued):
    queued.options["waiting_status"] = True

    def handler():
        from charmhelpers.core import hookenv

        hookenv.status_set("maintenance", "Upgrading")

    queued.run("app/2", "update-status", handler=handler)

    assert queued.status["app/2"] == ("maintenance", "Upgrading")


def test_waiting_status_never_overwrites_blocked(queued):
    queued.options["waiting_status"] = True
    queued.status["app/2"] = ("blocked", "Missing config")

    queued.run("app/2", "update-status")

    assert queued.status["app/2"] == ("blocked", "Missing config")


def test_waiting_status_is_off_by_default(queued):
    queued.run("app/2", "update-status")

    assert "app/2" not in queued.status
