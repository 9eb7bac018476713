"""Concurrency, held locks and leader-last ordering (issue 6 options)."""

import pytest
from charms.reactive import is_flag_set

from conftest import unit_flags


def acquire(lock, **kw):
    import charms.coordinator

    return charms.coordinator.acquire(lock, **kw)


def release(lock):
    import charms.coordinator

    return charms.coordinator.release(lock)


def request(model, unit, lock="restart", **kw):
    model.run(unit, "config-changed", handler=lambda: acquire(lock, **kw))


def leader_sees(model, unit):
    model.run(model.leader, "coordinator-relation-changed", remote=unit)


@pytest.fixture
def five(model):
    for n in (3, 4):
        model.add_unit(f"app/{n}")
    return model


def queue_everyone(model):
    for unit in ("app/1", "app/2", "app/3", "app/4"):
        request(model, unit)
        leader_sees(model, unit)


@pytest.mark.parametrize(
    ("value", "holders"),
    [
        (1, 1),
        (2, 2),
        ("3", 3),
        ("40%", 2),
        ("10%", 1),
        ("100%", 4),
        (" 60 % ", 3),
        ("12345678901", 4),
    ],
)
def test_concurrency_option_sets_how_many_hold_at_once(five, value, holders):
    five.options["concurrency"] = value

    queue_everyone(five)

    assert len(five.grants()) == holders
    assert sorted(five.grants()) == ["app/1", "app/2", "app/3", "app/4"][:holders]


@pytest.mark.parametrize(
    "value", [0, -1, "0%", "many", True, "", 1.5, "\u00b2", "\u0663", "9" * 5000, "2%%"]
)
def test_invalid_concurrency_option_fails_naming_it(five, value):
    five.options["concurrency"] = value

    with pytest.raises(ValueError, match="coordinator.concurrency"):
        with five.hook("app/1", "config-changed"):
            pass


def test_concurrency_from_charm_config_follows_operator_changes(five):
    five.options["concurrency_config"] = "restart-batch"
    five.config["restart-batch"] = "2"
    queue_everyone(five)
    assert len(five.grants()) == 2

    five.config["restart-batch"] = "4"
    five.run("app/0", "config-changed")

    assert len(five.grants()) == 4


@pytest.mark.parametrize("value", ["lots", "0", None, -3, "\u00b2", "9" * 5000, "\u00b2%"])
def test_invalid_runtime_concurrency_counts_as_one_with_a_warning(five, value):
    five.options["concurrency_config"] = "restart-batch"
    five.config["restart-batch"] = value

    queue_everyone(five)

    assert len(five.grants()) == 1
    warnings = [m for u, lvl, m in five.logs if lvl == "WARNING" and "restart-batch" in m]
    assert warnings


def test_custom_grant_method_overrides_concurrency(five, tmp_path, monkeypatch):
    (tmp_path / "onlyone.py").write_text(
        "import charms.coordinator\n"
        "class OnlyOne(charms.coordinator.SimpleCoordinator):\n"
        "    def grant_restart(self, lock, unit, granted, queue):\n"
        "        return not granted and unit == queue[0]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    five.options.update({"class": "onlyone.OnlyOne", "concurrency": 3})

    queue_everyone(five)

    assert len(five.grants()) == 1


def test_held_lock_stays_granted_across_hooks_until_released(five):
    request(five, "app/1", hold=True)
    leader_sees(five, "app/1")
    request(five, "app/2")
    leader_sees(five, "app/2")

    for hook in ("coordinator-relation-changed", "update-status", "update-status"):
        seen = five.run("app/1", hook).flags_in_handler
        assert "coordinator.granted.restart" in seen
        leader_sees(five, "app/1")
        assert list(five.grants()) == ["app/1"]  # app/2 keeps waiting
    assert "coordinator.granted.restart" in unit_flags(five, "app/1")

    five.run("app/1", "update-status", handler=lambda: release("restart"))
    leader_sees(five, "app/1")

    assert list(five.grants()) == ["app/2"]
    assert unit_flags(five, "app/1") == set()


def test_held_lock_of_departed_holder_goes_to_next_unit(five):
    request(five, "app/1", hold=True)
    request(five, "app/2")
    leader_sees(five, "app/1")
    leader_sees(five, "app/2")
    five.run("app/1", "coordinator-relation-changed")

    five.units.remove("app/1")
    five.run("app/0", "coordinator-relation-departed", remote="app/1")

    assert list(five.grants()) == ["app/2"]


def test_leader_holding_a_lock_hands_it_on_when_it_releases(five):
    five.run("app/0", "config-changed", handler=lambda: acquire("restart", hold=True))
    request(five, "app/1")
    leader_sees(five, "app/1")
    assert list(five.grants()) == ["app/0"]

    five.run("app/0", "update-status", handler=lambda: release("restart"))

    assert list(five.grants()) == ["app/1"]


def test_release_of_a_waiting_request_withdraws_it(five):
    request(five, "app/0")  # leader holds nothing after its hook; app/1 waits behind app/2
    request(five, "app/2", hold=True)
    leader_sees(five, "app/2")
    request(five, "app/1")

    def withdraw():
        return release("restart"), is_flag_set("coordinator.requested.restart")

    assert five.run("app/1", handler=withdraw).result == (True, False)
    assert five.requests_of("app/1") == {}


def test_default_acquire_still_lasts_one_hook(five):
    request(five, "app/1")
    leader_sees(five, "app/1")

    five.run("app/1", "coordinator-relation-changed")

    assert five.requests_of("app/1") == {}


@pytest.mark.parametrize(
    ("order", "expected", "after"),
    [("leader-last", ["app/1", "app/2", "app/0"], []), ("fifo", ["app/1", "app/0"], ["app/2"])],
)
def test_leader_last_grants_the_leader_only_when_nobody_else_waits(five, order, expected, after):
    five.options["order"] = order
    request(five, "app/1")
    leader_sees(five, "app/1")  # app/1 holds
    five.run("app/0", "config-changed", handler=lambda: acquire("restart"))  # leader waits
    request(five, "app/2")  # asks after the leader
    leader_sees(five, "app/2")

    seen = []
    for _ in range(3):
        holders = list(five.grants())
        if not holders:
            break
        (holder,) = holders
        seen.append(holder)
        if holder == "app/0":
            # Its grant committed; its next hook works, releases, hands on.
            hook = five.run("app/0", "coordinator-relation-changed")
            assert "coordinator.granted.restart" in hook.flags_in_handler
            break
        five.run(holder, "coordinator-relation-changed")  # work, release
        five.run("app/0", "coordinator-relation-changed", remote=holder)

    assert seen == expected
    assert list(five.grants()) == after  # fifo: the leader handed on to app/2 in its hook


def test_fifo_order_grants_the_leader_in_its_turn(five):
    five.run("app/0", "config-changed", handler=lambda: acquire("restart"))
    assert list(five.grants()) == ["app/0"]  # granted in the hook that asked

    five.run("app/0", "coordinator-relation-changed")  # works and releases

    assert five.requests_of("app/0") == {}
    assert five.grants() == {}


def test_invalid_order_option_fails_naming_it(five):
    five.options["order"] = "random"

    with pytest.raises(ValueError, match="coordinator.order"):
        with five.hook("app/1"):
            pass


def test_leader_last_defers_the_leaders_new_request_to_a_later_hook(five):
    five.options["order"] = "leader-last"

    assert five.run("app/0", "config-changed", handler=lambda: acquire("restart")).result is False
    assert five.grants() == {}

    five.run("app/0", "update-status")  # nobody else asked meanwhile: granted
    assert list(five.grants()) == ["app/0"]
    hook = five.run("app/0", "coordinator-relation-changed")
    assert "coordinator.granted.restart" in hook.flags_in_handler


def test_leader_last_grants_a_leader_without_peers_at_once(model):
    model.options["order"] = "leader-last"
    model.units = ["app/0"]
    model.settings = {"app/0": {}}

    assert model.run("app/0", handler=lambda: acquire("restart")).result is True
