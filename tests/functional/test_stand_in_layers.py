"""The test stand-ins for layer:basic and layer:options (tests/layers/) behave as documented.

The config flags are checked in a child process per hook, as Juju runs hooks,
with a fake ``config-get`` on PATH: charmhelpers and charms.reactive keep
per-process state that must not leak between hooks or into pytest.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

import charmbuild

LAYERS = charmbuild.STAND_INS
BASIC_LIB = LAYERS / "basic" / "lib"
OPTIONS_LIB = LAYERS / "options" / "lib"

CONFIG_YAML = """\
options:
  generation: {type: int, default: 0, description: d}
  name: {type: string, default: app, description: d}
"""

# Runs one "hook" in the charm directory: the stand-in's start callback, a
# look at the flags, then the end callbacks of a successful hook (among them
# the clear_config_states that init_config_states registers).
HOOK = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [{basic!r}, {options!r}]
    # charmhelpers 1.2.1 refuses to import charmhelpers.core.host on Debian
    # (a case-sensitive platform check, fixed in charm-helpers after 1.2.1);
    # test machines run Debian, Juju machines Ubuntu. Test setup only.
    import charmhelpers.osplatform
    charmhelpers.osplatform.get_platform = lambda: "ubuntu"
    from charmhelpers.core import hookenv, unitdata
    from charms.layer import basic
    from charms.reactive import get_flags

    basic.init_config_states()
    during = sorted(get_flags())
    hookenv._run_atexit()
    unitdata.kv().flush()
    print(json.dumps({{"during": during, "after": sorted(get_flags())}}))
    """
).format(basic=str(BASIC_LIB), options=str(OPTIONS_LIB))


@pytest.fixture
def charm_dir(tmp_path):
    charm = tmp_path / "charm"
    charm.mkdir()
    (charm / "config.yaml").write_text(CONFIG_YAML)
    (charm / "layer.yaml").write_text("options:\n  coordinator:\n    class: x.Y\n")
    tools = tmp_path / "tools"
    tools.mkdir()
    config_get = tools / "config-get"
    config_get.write_text('#!/bin/sh\nprintf "%s\\n" "$FAKE_CONFIG"\n')
    config_get.chmod(0o755)
    return charm


def run_hook(charm_dir, config):
    env = {
        "PATH": os.pathsep.join([str(charm_dir.parent / "tools"), os.environ["PATH"]]),
        "JUJU_CHARM_DIR": str(charm_dir),
        "CHARM_DIR": str(charm_dir),
        "JUJU_UNIT_NAME": "app/0",
        "FAKE_CONFIG": json.dumps(config),
        "LANG": "C.UTF-8",
    }
    result = subprocess.run(
        [sys.executable, "-c", HOOK], cwd=charm_dir, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_in_the_first_hook_every_option_counts_as_changed(charm_dir):
    flags = run_hook(charm_dir, {"generation": 0, "name": "app"})["during"]
    assert {"config.changed", "config.changed.generation", "config.changed.name"} <= set(flags)


def test_set_and_default_flags_follow_the_values(charm_dir):
    flags = run_hook(charm_dir, {"generation": 0, "name": "other"})["during"]
    config_flags = {f for f in flags if f.startswith(("config.set.", "config.default."))}
    assert config_flags == {"config.set.name", "config.default.generation"}


def test_a_hook_with_the_same_config_sets_no_changed_flag(charm_dir):
    run_hook(charm_dir, {"generation": 0, "name": "app"})
    flags = run_hook(charm_dir, {"generation": 0, "name": "app"})["during"]
    assert not [f for f in flags if f.startswith("config.changed")]


def test_a_changed_option_sets_its_changed_flags_only(charm_dir):
    run_hook(charm_dir, {"generation": 0, "name": "app"})
    flags = run_hook(charm_dir, {"generation": 1, "name": "app"})["during"]
    changed = sorted(f for f in flags if f.startswith("config.changed"))
    assert changed == ["config.changed", "config.changed.generation"]


def test_config_flags_are_cleared_by_the_end_callback_init_config_states_registers(charm_dir):
    flags = run_hook(charm_dir, {"generation": 3, "name": "app"})["after"]
    assert not [f for f in flags if f.startswith("config.")]


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def options(charm_dir, monkeypatch):
    monkeypatch.setenv("JUJU_CHARM_DIR", str(charm_dir))
    return load_module("standin_options", OPTIONS_LIB / "charms" / "layer" / "options.py")


def test_options_get_reads_a_section_of_the_built_layer_yaml(options):
    assert options.get("coordinator") == {"class": "x.Y"}


def test_options_get_reads_one_option(options):
    assert options.get("coordinator", "class") == "x.Y"


def test_options_get_gives_an_empty_section_for_a_layer_without_options(options):
    assert options.get("basic") == {}


def test_options_get_refuses_an_option_without_its_section(options):
    with pytest.raises(ValueError, match="section"):
        options.get(option="class")


@pytest.fixture
def basic():
    return load_module("standin_basic", BASIC_LIB / "charms" / "layer" / "basic.py")


def test_a_wheelhouse_version_the_interpreter_lacks_stops_the_hook(basic, tmp_path):
    (tmp_path / "wheelhouse").mkdir()
    (tmp_path / "wheelhouse" / "charmhelpers-0.0.1.tar.gz").write_bytes(b"")
    with pytest.raises(basic.WheelhouseMismatch, match=r"charmhelpers 0\.0\.1 is wanted but"):
        basic.check_wheelhouse(str(tmp_path))


def test_a_wheelhouse_package_the_interpreter_lacks_stops_the_hook(basic, tmp_path):
    (tmp_path / "wheelhouse").mkdir()
    (tmp_path / "wheelhouse" / "no_such_package-1.0.tar.gz").write_bytes(b"")
    with pytest.raises(basic.WheelhouseMismatch, match=r"no-such-package 1\.0 is not installed"):
        basic.check_wheelhouse(str(tmp_path))


def test_the_wheelhouse_pins_match_the_test_requirements():
    """tests/layers/basic/wheelhouse.txt and tests/requirements.txt pin the same versions."""

    def pins(path):
        found = {}
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if "==" in line:
                name, version = line.split("==")
                found[name.strip().lower().replace("_", "-").replace(".", "-")] = version.strip()
        return found

    wheelhouse = pins(LAYERS / "basic" / "wheelhouse.txt")
    requirements = pins(charmbuild.REQUIREMENTS)
    assert {name: requirements.get(name) for name in wheelhouse} == wheelhouse
