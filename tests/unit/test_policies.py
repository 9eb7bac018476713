"""Policies: SimpleCoordinator, Serial and custom classes; leader hand-over (behaviours 4-5)."""

import pytest

UNITS = ("app/0", "app/1", "app/2", "app/3")

CUSTOM = """
import charms.coordinator


class TwoAtOnce(charms.coordinator.SimpleCoordinator):
    def grant_restart(self, lock, unit, granted, queue):
        return len(granted) < 2 and unit in queue[: 2 - len(granted)]
"""


def acquire(lock):
    import charms.coordinator

    return charms.coordinator.acquire(lock)


def request(model, unit, *locks):
    model.run(unit, "config-changed", handler=lambda: [acquire(lock) for lock in locks])


def leader_sees(model, unit):
    model.run(model.leader, "coordinator-relation-changed", remote=unit)


@pytest.fixture
def four(model):
    for unit in UNITS[3:]:
        model.add_unit(unit)
    return model


def test_simple_grants_one_unit_at_a_time_whatever_the_lock_names(four):
    request(four, "app/1", "restart")
    request(four, "app/2", "backup")
    leader_sees(four, "app/1")
    leader_sees(four, "app/2")

    assert list(four.grants()) == ["app/1"]


def test_simple_holder_gets_every_lock_it_asks_for(four):
    # app/1 asked for restart before app/2 asked for backup, and for backup after.
    four.settings["app/1"]["coordinator"] = (
        '{"restart": "2026-01-01 00:00:01.000000Z", "backup": "2026-01-01 00:00:03.000000Z"}'
    )
    four.settings["app/2"]["coordinator"] = '{"backup": "2026-01-01 00:00:02.000000Z"}'

    leader_sees(four, "app/1")

    assert {u: sorted(locks) for u, locks in four.grants().items()} == {
        "app/1": ["backup", "restart"]
    }


def test_simple_grants_in_request_order(four):
    for unit in ("app/3", "app/1", "app/2"):
        request(four, unit, "restart")
    for unit in ("app/1", "app/2", "app/3"):  # leader hears them in another order
        leader_sees(four, unit)

    order = []
    for _ in range(3):
        (holder,) = four.grants()
        order.append(holder)
        four.run(holder, "coordinator-relation-changed")
        leader_sees(four, holder)

    assert order == ["app/3", "app/1", "app/2"]


@pytest.mark.parametrize(
    "klass",
    ["SimpleCoordinator", "charmhelpers.coordinator.Serial", "twoatonce.TwoAtOnce"],
)
def test_leader_hands_its_released_lock_to_next_unit_in_same_hook(
    four, klass, tmp_path, monkeypatch
):
    (tmp_path / "twoatonce.py").write_text(CUSTOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    four.options["class"] = klass
    holders = ["app/2", "app/3"] if klass.startswith("twoatonce") else ["app/2"]
    for unit in holders:
        request(four, unit, "restart")
        leader_sees(four, unit)
    four.run("app/0", "config-changed", handler=lambda: acquire("restart"))  # leader waits
    request(four, "app/1", "restart")
    leader_sees(four, "app/1")
    assert sorted(four.grants()) == holders
    for unit in holders:
        four.run(unit, "coordinator-relation-changed")  # guarded work, then release

    # The leader reads the last release and grants itself (committed with
    # this hook); in its next hook it is granted at the start, works,
    # releases at the end and hands the lock to app/1 before that hook is over.
    four.run("app/0", "coordinator-relation-changed", remote=holders[-1])
    assert "app/0" in four.grants()
    hook = four.run("app/0", "coordinator-relation-changed")

    assert "coordinator.granted.restart" in hook.flags_in_handler
    assert "app/1" in four.grants()
    assert "app/0" not in four.grants()


def test_serial_lets_different_units_hold_different_locks(four):
    four.options["class"] = "charmhelpers.coordinator.Serial"
    request(four, "app/1", "restart")
    request(four, "app/2", "backup")
    request(four, "app/3", "restart")
    for unit in ("app/1", "app/2", "app/3"):
        leader_sees(four, unit)

    assert {u: sorted(locks) for u, locks in four.grants().items()} == {
        "app/1": ["restart"],
        "app/2": ["backup"],
    }


def test_custom_class_grant_method_allows_two_at_once(four, tmp_path, monkeypatch):
    (tmp_path / "twoatonce.py").write_text(CUSTOM)
    monkeypatch.syspath_prepend(str(tmp_path))
    four.options["class"] = "twoatonce.TwoAtOnce"
    for unit in ("app/1", "app/2", "app/3"):
        request(four, unit, "restart")
        leader_sees(four, unit)

    assert sorted(four.grants()) == ["app/1", "app/2"]


def test_serial_configured_class_keeps_its_name_and_policy(four):
    four.options["class"] = "charmhelpers.coordinator.Serial"

    def handler():
        import charmhelpers.coordinator

        import charms.coordinator

        c = charms.coordinator.coordinator
        return type(c).__name__, isinstance(c, charmhelpers.coordinator.Serial)

    assert four.run("app/1", handler=handler).result == ("Serial", True)


def test_departed_holder_loses_its_grant_and_next_unit_is_granted(four):
    request(four, "app/1", "restart")
    request(four, "app/2", "restart")
    leader_sees(four, "app/1")
    leader_sees(four, "app/2")
    assert list(four.grants()) == ["app/1"]

    four.units.remove("app/1")
    four.run("app/0", "coordinator-relation-departed", remote="app/1")

    assert list(four.grants()) == ["app/2"]


def test_leader_drops_a_grant_whose_request_changed(four):
    request(four, "app/1", "restart")
    leader_sees(four, "app/1")
    old = four.grants()["app/1"]["restart"]
    # app/1 re-requests with a new timestamp (e.g. its data was rewritten)
    four.settings["app/1"]["coordinator"] = '{"restart": "2030-01-01 00:00:00.000000Z"}'

    leader_sees(four, "app/1")

    assert four.grants()["app/1"]["restart"] != old
