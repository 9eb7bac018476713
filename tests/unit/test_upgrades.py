"""Units on the original layer:coordinator beside units on this layer (issue 21).

The original layer releases a lock by deleting its request and writes no
release record. The leader on this layer takes a granted request it had seen
and that is now deleted as a release when it reads the holder in the
holder's own relation-changed hook (Juju serves the holder's latest
committed settings there; in other hooks its copy may predate the request).
A grant for a
request its holder never published (the leader's own, kept in unitdata; an
orphan taken over) was never seen by the leader, and its absence is no release.
"""

import json

from conftest import on_juju


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
    model.run("app/2", handler=lambda: acquire("restart"))
    model.leader = "app/1"
    model.run("app/1", "leader-elected")
    model.settings["app/0"]["other"] = "its charm's own data"  # committed, unrelated

    model.run("app/1", "coordinator-relation-changed", remote="app/0")

    assert model.grants() == {"app/0": {"restart": ts}}


# -- grants the original's leader left in leader settings --------------------------


def on_juju_3_6_after_the_original(model, grants):
    """A model on Juju 3.6 whose leader ran the original layer: its grants in leader settings."""
    on_juju(model, "3.6")
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


def test_a_grant_whose_request_is_not_shown_is_kept_until_its_holder_shows_it_gone(model):
    # The leader's copy of app/1's data may predate the request: not shown is no release.
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS2}})

    model.run("app/0", "upgrade-charm")
    assert model.grants() == {"app/1": {"restart": TS2}}

    model.settings["app/1"]["other"] = "a later commit of app/1"
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert model.grants() == {}


def test_a_grant_its_holder_let_go_is_not_taken_over(model):
    publish_the_original_way(model, "app/1", "restart", TS2)  # asked again since
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS1}})

    model.run("app/0", "upgrade-charm")

    assert model.grants() == {"app/1": {"restart": TS2}}  # its new request, granted


def leader_gets(model):
    return len([c for c in model.calls if c[1] == "leader-get"])


def test_taken_over_grants_are_cleared_from_leader_settings_once_let_go(model):
    publish_the_original_way(model, "app/1", "restart", TS2)
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS2}})

    model.run("app/0", "upgrade-charm")
    model.run("app/0", "coordinator-relation-changed", remote="app/2")
    # Committed, but app/1 (on the original) reads its grant only there.
    assert model.leader_settings["coordinator"]

    release_the_original_way(model, "app/1", "restart")
    model.run("app/0", "coordinator-relation-changed", remote="app/1")
    assert not model.leader_settings.get("coordinator")
    assert model.grants() == {}
    gets = leader_gets(model)

    model.run("app/0", "update-status")
    model.run("app/0", "coordinator-relation-changed", remote="app/2")

    assert leader_gets(model) == gets  # settled: leader settings are not read again


def test_a_grant_of_a_departed_holder_is_taken_over_once(model):
    # Found in review: the unit has left, its settings still show the request.
    model.add_unit("app/3")
    publish_the_original_way(model, "app/3", "restart", TS2)
    on_juju_3_6_after_the_original(model, {"app/3": {"restart": TS2}})
    model.units.remove("app/3")

    model.run("app/0", "upgrade-charm")
    model.run("app/0", "update-status")
    model.run("app/0", "update-status")

    takeovers = [m for _, _, m in model.logs if "takes over app/3's grant" in m]
    assert len(takeovers) <= 1
    assert not model.leader_settings.get("coordinator")
    assert model.grants() == {}


def test_the_first_leader_hook_on_this_layer_takes_over_whatever_hook_it_is(model):
    # A leader in error refreshed with --force-units retries its failed hook on the
    # new code, and upgrade-charm never runs.
    publish_the_original_way(model, "app/1", "restart", TS2)
    publish_the_original_way(model, "app/2", "restart", TS1)
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS2}})

    model.run("app/0", "config-changed")

    assert model.grants() == {"app/1": {"restart": TS2}}


def test_a_holder_not_yet_listed_is_taken_over_too(model):
    model.add_unit("app/3")
    model.not_joined["app/1"] = {"app/3"}
    publish_the_original_way(model, "app/3", "restart", TS2)
    publish_the_original_way(model, "app/0", "restart", TS1)
    on_juju_3_6_after_the_original(model, {"app/3": {"restart": TS2}})
    model.leader = "app/1"

    model.run("app/1", "leader-elected")

    assert model.grants() == {"app/3": {"restart": TS2}}


def test_a_withdrawn_request_leaves_a_release_record(model):
    model.run("app/1", handler=lambda: acquire("restart"))
    ts = model.requests_of("app/1")["restart"]

    def withdraw():
        import charms.coordinator

        charms.coordinator.release("restart")

    model.run("app/1", handler=withdraw)

    assert model.requests_of("app/1") == {}
    assert json.loads(model.settings["app/1"]["coordinator-released"]) == {"restart": ts}


def test_a_self_grant_made_in_relation_created_is_kept_by_a_new_leader(model):
    # Found in review: its request never reached the relation, so its absence is no release.
    model.relation = False
    model.run("app/0", "install", handler=lambda: acquire("restart"))
    model.relation = True
    model.run("app/0", "coordinator-relation-created")
    grant = model.grants()
    assert list(grant) == ["app/0"]
    model.run("app/2", handler=lambda: acquire("restart"))
    model.leader = "app/1"
    model.run("app/1", "leader-elected")

    model.run("app/1", "coordinator-relation-joined", remote="app/0")

    assert model.grants() == grant


def test_on_juju_4_leader_get_is_never_called(model):
    model.run("app/0", "upgrade-charm")  # the fake fails any leader-get on Juju 4
    model.leader = "app/1"
    model.run("app/1", "leader-elected")

    assert [c for c in model.calls if c[1] == "leader-get"] == []


def test_a_withdrawal_while_an_older_grant_is_still_shown_records_the_newer_request(model):
    # Found in review: the record kept the older grant's time, and the newer
    # request's grant, arriving later, was taken for an orphan.
    model.app_data["coordinator"] = json.dumps({"app/1": {"restart": TS1}})  # not ended yet
    model.settings["app/1"]["coordinator-released"] = json.dumps({"restart": TS1})
    publish_the_original_way(model, "app/1", "restart", TS2)

    def withdraw():
        import charms.coordinator

        charms.coordinator.release("restart")

    model.run("app/1", "coordinator-relation-changed", remote="app/2", handler=withdraw)

    assert model.requests_of("app/1") == {}
    assert json.loads(model.settings["app/1"]["coordinator-released"]) == {"restart": TS2}


def test_a_leader_back_for_a_new_term_reads_everyone_and_trusts_no_earlier_sight(model):
    # Found in the third review: app/0's view from its earlier term said it had
    # seen app/1's request; app/1, leader meanwhile, took its orphan over (as
    # leader) and works with hold=True; app/0, leader again without a
    # leader-elected hook first, must not end that grant in app/1's hook.
    model.options["class"] = "charmhelpers.coordinator.Serial"
    publish_the_original_way(model, "app/2", "restart", TS1)
    publish_the_original_way(model, "app/2", "other", TS1)
    model.settings["app/1"]["coordinator"] = json.dumps({})  # released the original's way
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS2}, "app/2": {"other": TS1}})
    model.run("app/0", "upgrade-charm")  # takes app/1's grant over, marks it seen
    model.leader = "app/1"
    hook = model.run("app/1", "upgrade-charm", handler=lambda: acquire("restart", hold=True))
    assert hook.result is True
    model.leader = "app/0"

    model.run("app/0", "coordinator-relation-changed", remote="app/1")

    assert model.grants().get("app/1", {}).get("restart") == TS2
    assert "restart" not in model.grants().get("app/2", {})


def test_a_settled_grant_leaves_leader_settings_so_a_later_leader_does_not_take_it_again(
    model,
):
    # Found in the third review: what a leader took over lives in its unitdata only.
    model.options["class"] = "charmhelpers.coordinator.Serial"
    model.add_unit("app/3")
    publish_the_original_way(model, "app/1", "restart", TS1)
    publish_the_original_way(model, "app/2", "other", TS2)  # still at work: not settled
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS1}, "app/2": {"other": TS2}})
    model.run("app/0", "upgrade-charm")
    release_the_original_way(model, "app/1", "restart")
    model.run("app/0", "coordinator-relation-changed", remote="app/1")  # ends it
    model.run("app/0", "coordinator-relation-changed", remote="app/3")  # settles it

    assert json.loads(model.leader_settings["coordinator"]) == {"app/2": {"other": TS2}}
    model.leader = "app/3"
    model.run("app/3", "leader-elected")
    assert "app/1" not in model.grants()


def test_a_revocation_reaches_a_holder_still_on_the_original(model):
    # Found in the third review: it reads its grant only in leader settings.
    publish_the_original_way(model, "app/1", "restart", TS1)
    publish_the_original_way(model, "app/2", "restart", TS2)
    on_juju_3_6_after_the_original(model, {"app/1": {"restart": TS1}})
    model.run("app/0", "upgrade-charm")

    _, failed = model.action("app/0", "coordinator-release", unit="app/1")

    assert failed is None
    assert not json.loads(model.leader_settings.get("coordinator") or "{}")
    assert list(model.grants()) == ["app/2"]
