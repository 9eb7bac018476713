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


# -- grants the original's leader left in leader settings --------------------------


def on_juju_3_6_after_the_original(model, grants):
    """A model on Juju 3.6 whose leader ran the original layer: its grants in leader settings."""
    model.juju_version = "3.6.12"
    model.leader_settings_tools = True
    model.leader_settings["coordinator"] = json.dumps(grants)


def publish_the_original_way(model, unit, lock, ts):
    """A request as a unit on the original layer commits it (charmhelpers' key and format)."""
    requests = model.requests_of(unit)
    requests[lock] = ts
    model.settings[unit]["coordinator"] = json.dumps(requests)


TS1 = "2026-01-01 00:00:01.000000Z"
TS2 = "2026-01-01 00:00:02.000000Z"


def test_a_refreshed_leader_takes_over_the_grant_of_a_holder_still_at_work(model):
    publish_the_original_way(model, "app/1", "restart", TS2)  # granted by the original
    publish_the_original_way(model, "app/2", "restart", TS1)  # asked first, still waiting
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS2}})

    model.run("app/0", "upgrade-charm")

    assert model.grants() == {"app/1": {"restart": TS2}}  # not app/2: app/1 may be at work
    assert any("takes over app/1's grant" in m for _, _, m in model.logs)


def test_a_new_leader_takes_over_the_grants_too(model):
    publish_the_original_way(model, "app/2", "restart", TS2)
    publish_the_original_way(model, "app/0", "restart", TS1)  # asked first, still waiting
    on_juju_3_6_after_the_original(model, {"app/2": {"restart": TS2}})
    model.leader = "app/1"

    model.run("app/1", "leader-elected")

    assert model.grants() == {"app/2": {"restart": TS2}}


def test_a_grant_whose_request_is_gone_is_not_taken_over(model):
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS2}})

    model.run("app/0", "upgrade-charm")

    assert model.grants() == {}


def test_leader_settings_are_read_only_when_leadership_or_the_charm_changes(model):
    on_juju_3_6_after_the_original(model, {})

    model.run("app/0", "update-status")
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert [c for c in model.calls if c[1] == "leader-get"] == []

    model.run("app/0", "upgrade-charm")
    assert len([c for c in model.calls if c[1] == "leader-get"]) == 1


def test_on_juju_4_leader_get_is_never_called(model):
    model.run("app/0", "upgrade-charm")  # the fake fails any leader-get on Juju 4
    model.leader = "app/1"
    model.run("app/1", "leader-elected")

    assert [c for c in model.calls if c[1] == "leader-get"] == []
