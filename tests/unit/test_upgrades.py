"""Units on the original layer:coordinator beside units on this layer (issue 21).

The original layer releases a lock by deleting its request and writes no
release record. The leader on this layer takes a granted request deleted as
a release when it reads the holder in the holder's own relation-changed hook
(Juju serves the holder's latest committed settings there; in other hooks
its copy may predate the request). A grant the leader made to itself for a
request it did not publish is marked ``coordinator-unpublished``: its holder
shows no request, and that is no release.
"""

import json

from conftest import unit_flags


def acquire(lock, hold=False):
    import charms.coordinator

    return charms.coordinator.acquire(lock, hold=hold)


def release_the_original_way(model, unit, lock):
    """What a unit on the original layer commits when it is done: its request deleted."""
    requests = model.requests_of(unit)
    del requests[lock]
    model.settings[unit]["coordinator"] = json.dumps(requests)


def test_a_holder_that_releases_the_original_way_hands_the_lock_on(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/2", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    model.run("app/0", "coordinator-relation-changed", remote="app/2")
    assert list(model.grants()) == ["app/1"]

    release_the_original_way(model, "app/1", "restart")
    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert list(model.grants()) == ["app/2"]
    assert any("app/1 deleted its request" in m for _, _, m in model.logs)


def test_a_holder_without_its_request_read_in_another_hook_keeps_its_grant(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/2", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    release_the_original_way(model, "app/1", "restart")

    model.run("app/0", "leader-elected")  # reads app/1, but not in app/1's own hook

    assert list(model.grants()) == ["app/1"]


def test_a_garbled_request_is_no_release(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    model.settings["app/1"]["coordinator"] = "not json"

    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert list(model.grants()) == ["app/1"]


def test_a_deposed_leaders_unpublished_grant_is_kept_by_the_new_leader(model):
    model.run("app/0", "config-changed", handler=lambda: acquire("restart", hold=True))
    ts = model.grants()["app/0"]["restart"]
    assert json.loads(model.app_data["coordinator-unpublished"]) == {"app/0": {"restart": ts}}
    model.run("app/2", handler=lambda: acquire("restart"))
    model.leader = "app/1"
    model.run("app/1", "leader-elected")
    model.settings["app/0"]["other"] = "its charm's own data"  # committed, unrelated

    model.run("app/1", "coordinator-relation-changed", remote="app/0")

    assert model.grants() == {"app/0": {"restart": ts}}


def test_the_unpublished_mark_goes_with_the_grant(model):
    model.run("app/0", "config-changed", handler=lambda: acquire("restart"))
    assert "coordinator-unpublished" in model.app_data

    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # works, releases

    assert model.grants() == {}
    assert "coordinator-unpublished" not in model.app_data
    assert unit_flags(model, "app/0") == set()
