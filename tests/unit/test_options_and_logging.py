"""Layer options: class resolution, log_level, error reporting (behaviours 6-7)."""

import pytest


def build(model, unit="app/1"):
    """Run a hook that builds the coordinator; return (exception or None, hook)."""
    hook = model.hook(unit, "config-changed")
    try:
        with hook:
            pass
    except Exception as exc:  # noqa: BLE001 -- the error is the result under test
        return exc, hook
    return None, hook


def error_lines(model):
    return [m for _, level, m in model.logs if level == "ERROR"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("charms.nosuch.Coordinator", "module 'charms.nosuch' cannot be found"),
        ("charmhelpers.coordinator.NoSuch", "has no attribute 'NoSuch'"),
        ("charmhelpers.core.hookenv.Config", "is not a subclass of"),
        ("charmhelpers.core.hookenv.log", "is not a subclass of"),
        ("NotDefinedHere", "module 'charms.coordinator' has no attribute 'NotDefinedHere'"),
        ("", "not a class path"),
        (42, "not a class path"),
    ],
)
def test_bad_class_option_fails_the_hook_with_a_clear_logged_error(model, value, problem):
    model.options["class"] = value

    exc, _ = build(model)

    assert type(exc).__name__ == "OptionError"
    assert isinstance(exc, ValueError)
    text = str(exc)
    assert f"coordinator.class = {value!r}" in text
    assert problem in text
    assert "BaseCoordinator subclass" in text  # says how to fix it
    assert [line for line in error_lines(model) if problem in line]


def test_module_that_raises_on_import_is_reported_with_its_error(model, tmp_path, monkeypatch):
    (tmp_path / "brokenpolicy.py").write_text("import no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model.options["class"] = "brokenpolicy.Policy"

    exc, _ = build(model)

    assert "importing module 'brokenpolicy' failed" in str(exc)
    assert "no_such_dependency" in str(exc)


def test_bare_class_name_resolves_in_charms_coordinator(model):
    model.options["class"] = "SimpleCoordinator"

    def handler():
        import charms.coordinator

        return type(charms.coordinator.coordinator)

    cls = model.run("app/1", handler=handler).result
    assert cls.__name__ == "SimpleCoordinator"


def test_default_class_is_simple_coordinator(model):
    def handler():
        import charms.coordinator

        return type(charms.coordinator.coordinator).__name__

    assert model.run("app/1", handler=handler).result == "SimpleCoordinator"


def test_whitespace_around_class_path_is_ignored(model):
    model.options["class"] = "  charmhelpers.coordinator.Serial "

    exc, _ = build(model)

    assert exc is None


@pytest.mark.parametrize("level", ["debug", "DEBUG", "Debug", "critical"])
def test_log_level_is_case_insensitive(model, level):
    model.options["log_level"] = level

    exc, _ = build(model)

    assert exc is None


@pytest.mark.parametrize("level", ["loud", "", 10, None])
def test_invalid_log_level_fails_the_hook_naming_the_option(model, level):
    model.options["log_level"] = level

    exc, _ = build(model)

    assert type(exc).__name__ == "OptionError"
    assert "coordinator.log_level" in str(exc)
    assert "debug, info, warning, error, critical" in str(exc)
    assert error_lines(model)


def test_log_lines_share_a_prefix(model):
    import charms.reactive  # noqa: F401

    def handler():
        import charms.coordinator

        charms.coordinator.acquire("restart")

    model.options["log_level"] = "debug"
    model.run("app/1", handler=handler)

    lines = model.messages("app/1")
    assert lines
    assert all(line.startswith("coordinator: ") for line in lines)


def test_log_level_filters_lower_levels(model):
    def handler():
        import charms.coordinator

        charms.coordinator.acquire("restart")

    model.options["log_level"] = "debug"
    model.run("app/1", handler=handler)
    chatty = len(model.messages("app/1"))
    model.logs.clear()

    model.options["log_level"] = "warning"
    model.run("app/2", handler=handler)

    assert chatty > 0
    assert model.messages("app/2") == []


def test_debug_messages_are_hidden_at_default_info(model):
    def handler():
        import charms.coordinator

        charms.coordinator.acquire("restart")

    model.run("app/1", handler=handler)

    levels = {level for unit, level, _ in model.logs if unit == "app/1"}
    assert levels == {"INFO"}


def test_the_removed_protocol_option_is_refused_with_what_to_do(model):
    model.options.update({"class": "charmhelpers.coordinator.Serial", "protocol": "charmhelpers"})

    exc, _ = build(model)

    assert type(exc).__name__ == "OptionError"
    assert "coordinator.protocol" in str(exc)
    assert "Delete it" in str(exc)  # says how to fix it


def test_base_coordinator_itself_runs_as_the_layer_coordinator(model):
    model.options["class"] = "charmhelpers.coordinator.BaseCoordinator"

    def handler():
        import charms.coordinator

        c = charms.coordinator.coordinator
        return type(c).__name__, charms.coordinator.acquire("restart")

    assert model.run("app/0", "config-changed", handler=handler).result == (
        "LayerCoordinator",
        False,  # granted, for the next hook
    )
    assert model.run("app/0", handler=handler).result == ("LayerCoordinator", True)


def test_class_that_cannot_join_the_layer_protocol_fails_clearly(model, tmp_path, monkeypatch):
    # The layer combines a plain BaseCoordinator subclass with its own class
    # in a subclass; a class that refuses to be subclassed cannot take part.
    (tmp_path / "sealed.py").write_text(
        "import charmhelpers.coordinator\n"
        "class Sealed(charmhelpers.coordinator.Serial):\n"
        "    def __init_subclass__(cls, **kwargs):\n"
        "        raise TypeError('Sealed cannot be subclassed')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model.options["class"] = "sealed.Sealed"

    exc, _ = build(model)

    assert type(exc).__name__ == "OptionError"
    assert "cannot be combined with the layer's protocol" in str(exc)
    assert "Sealed cannot be subclassed" in str(exc)
    assert "SimpleCoordinator" in str(exc)  # says how to fix it


@pytest.mark.parametrize(
    ("level", "logged"),
    [(None, "INFO"), ("WARNING", "WARNING"), ("debug", "DEBUG"), ("TRACE", "DEBUG"), (7, "INFO")],
)
def test_policy_msg_takes_an_optional_level(model, level, logged):
    model.options["log_level"] = "debug"

    def handler():
        import charms.coordinator

        c = charms.coordinator.coordinator
        if level is None:
            c.msg("from the policy")
        else:
            c.msg("from the policy", level)

    model.run("app/1", handler=handler)

    assert [lvl for u, lvl, m in model.logs if "from the policy" in m] == [logged]
