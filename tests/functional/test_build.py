"""What `charm build` makes of layer:coordinator, checked on the built fixture charms."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

import charmbuild

REPO = charmbuild.REPO
TEMPLATE = REPO / "tests" / "layers" / "basic" / "hooks" / "hook.template"

# The hooks charm-tools 3.0.9 renders from the template for every charm.
STANDARD_HOOKS = [
    "install",
    "config-changed",
    "leader-elected",
    "leader-settings-changed",
    "start",
    "stop",
    "update-status",
    "upgrade-charm",
    "pre-series-upgrade",
    "post-series-upgrade",
]
RELATION_HOOKS = [
    f"coordinator-relation-{event}"
    for event in ("created", "joined", "changed", "departed", "broken")
]
LAYER_FILES = [
    "lib/charms/coordinator.py",
    "reactive/coordinator.py",
    "hooks/relations/coordinator/peers.py",
]
DEVELOPMENT_FILES = [
    "tests",
    "tox.ini",
    "Makefile",
    "pyproject.toml",
    ".ci",
    ".gitignore",
    ".venv",
    ".tox",
    ".cache",
]


@pytest.fixture(scope="module")
def rolling_restart(built_charms):
    return built_charms["rolling-restart"]


def load_yaml(path):
    return yaml.safe_load(path.read_text())


def manifest(charm):
    return json.loads((charm / ".build.manifest").read_text())["signatures"]


def load_stand_in_basic():
    """Import the stand-in layer:basic library from its source, by path."""
    path = REPO / "tests" / "layers" / "basic" / "lib" / "charms" / "layer" / "basic.py"
    spec = importlib.util.spec_from_file_location("standin_basic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.charms(*charmbuild.fixture_names())
@pytest.mark.parametrize("name", charmbuild.fixture_names())
def test_every_fixture_charm_builds(built_charms, name):
    assert (built_charms[name] / "metadata.yaml").is_file()


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("hook", STANDARD_HOOKS + RELATION_HOOKS)
def test_each_hook_is_rendered_from_the_basic_template(rolling_restart, hook):
    path = rolling_restart / "hooks" / hook
    assert path.read_text() == TEMPLATE.read_text().format("hook")
    assert os.access(path, os.X_OK)


@pytest.mark.charms("rolling-restart")
def test_the_layer_ships_no_hand_written_hooks(rolling_restart):
    from_layer = [
        rel
        for rel, (layer, _kind, _sig) in manifest(rolling_restart).items()
        if rel.startswith("hooks/")
        and not rel.startswith("hooks/relations/")
        and layer == "layer:coordinator"
    ]
    assert from_layer == []


def test_the_layer_source_has_no_hooks_outside_relations():
    hooks = REPO / "hooks"
    extra = (
        sorted(p.name for p in hooks.iterdir() if p.name != "relations") if hooks.is_dir() else []
    )
    assert extra == []


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("rel", LAYER_FILES)
def test_the_built_charm_carries_the_layer_code_unchanged(rolling_restart, rel):
    assert (rolling_restart / rel).read_bytes() == (REPO / rel).read_bytes()


@pytest.mark.charms("rolling-restart")
def test_the_peer_relation_comes_from_the_layer_metadata(rolling_restart):
    metadata = load_yaml(rolling_restart / "metadata.yaml")
    assert metadata["peers"]["coordinator"] == {"interface": "coordinator"}


@pytest.mark.charms("rolling-restart")
def test_built_layer_yaml_has_every_coordinator_option_with_its_default(rolling_restart):
    defines = load_yaml(REPO / "layer.yaml")["defines"]
    set_by_fixture = load_yaml(charmbuild.FIXTURES / "rolling-restart" / "layer.yaml")["options"][
        "coordinator"
    ]
    built = load_yaml(rolling_restart / "layer.yaml")["options"]["coordinator"]
    expected = {name: set_by_fixture.get(name, spec["default"]) for name, spec in defines.items()}
    assert built == expected


@pytest.mark.charms("serial-two-locks")
def test_a_charm_can_choose_the_coordinator_class(built_charms):
    built = load_yaml(built_charms["serial-two-locks"] / "layer.yaml")["options"]["coordinator"]
    assert built["class"] == "charmhelpers.coordinator.Serial"


@pytest.mark.charms("rolling-restart")
@pytest.mark.parametrize("name", DEVELOPMENT_FILES)
def test_development_files_stay_out_of_the_built_charm(rolling_restart, name):
    assert not (rolling_restart / name).exists()


@pytest.mark.charms("rolling-restart")
def test_charm_proof_finds_no_errors_in_the_built_charm(rolling_restart):
    code, output = charmbuild.proof(rolling_restart)
    assert code < 200, output  # 100: warnings only
    assert not [line for line in output.splitlines() if line.startswith("E:")]


def test_a_log_level_outside_the_schema_fails_the_build(tmp_path):
    charm = tmp_path / "loud"
    shutil.copytree(charmbuild.FIXTURES / "rolling-restart", charm)
    (charm / "metadata.yaml").write_text(
        (charm / "metadata.yaml").read_text().replace("rolling-restart", "loud", 1)
    )
    (charm / "layer.yaml").write_text(
        yaml.safe_dump(
            {
                "includes": ["layer:basic", "layer:coordinator"],
                "options": {"coordinator": {"log_level": "loud"}},
            }
        )
    )
    output = charmbuild.build_charm_expecting_failure(charm)
    assert "log_level" in output


@pytest.mark.parametrize("name", charmbuild.fixture_names())
def test_fixture_charms_carry_no_series_as_juju_4_requires(name):
    # Juju 4 rejects metadata with series: only; bases belong in charmcraft.yaml.
    assert "series" not in load_yaml(charmbuild.FIXTURES / name / "metadata.yaml")


@pytest.mark.charms("rolling-restart")
def test_the_built_metadata_and_actions_are_valid_for_juju_4(rolling_restart):
    metadata = load_yaml(rolling_restart / "metadata.yaml")
    assert "series" not in metadata
    assert {"name", "summary", "description"} <= set(metadata)
    assert metadata["peers"]["coordinator"]["interface"]
    actions = load_yaml(rolling_restart / "actions.yaml")
    assert set(actions) >= {"coordinator-status", "coordinator-release"}
    for name, spec in actions.items():
        assert isinstance(spec["description"], str)
        params = spec.get("params", {})
        assert all(isinstance(p, dict) and p.get("type") for p in params.values()), name
        assert set(spec.get("required", [])) <= set(params), name
    # Juju 4 refuses params an action does not declare (additionalProperties
    # defaults to false there): every param the layer reads is declared.
    source = (REPO / "lib" / "charms" / "layer_coordinator" / "actions.py").read_text()
    read = set(re.findall(r"params\.get\(\"(\w+)\"\)", source))
    assert read == {"unit", "lock"}
    assert read <= set(actions["coordinator-release"]["params"])


@pytest.mark.charms("rolling-restart")
def test_the_wheelhouse_matches_the_test_interpreter(rolling_restart):
    basic = load_stand_in_basic()
    basic.check_wheelhouse(str(rolling_restart))  # raises WheelhouseMismatch if not


@pytest.mark.charms("rolling-restart")
def test_the_wheelhouse_holds_the_pinned_charmhelpers_and_charms_reactive(rolling_restart):
    wheelhouse = sorted(p.name for p in (rolling_restart / "wheelhouse").iterdir())
    assert {"charmhelpers-1.2.1.tar.gz", "charms_reactive-1.5.3.tar.gz"} <= set(wheelhouse)


@pytest.mark.charms("rolling-restart")
def test_another_process_reuses_the_cached_build(rolling_restart):
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "functional" / "charmbuild.py"), "rolling-restart"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == str(rolling_restart)


# -- a fixture built on the stand-in for the original layer -------------------

ORIGINAL = "rolling-restart-original"
ORIGINAL_STAND_IN = charmbuild.STAND_INS / "coordinator-original"
ORIGINAL_HOOKS = [
    "hooks/coordinator-relation-changed",
    "hooks/coordinator-relation-departed",
    "hooks/leader-elected",
    "hooks/leader-settings-changed",
]


@pytest.mark.charms(ORIGINAL)
@pytest.mark.parametrize("rel", LAYER_FILES)
def test_a_fixture_can_be_built_on_the_original_layer_stand_in(built_charms, rel):
    charm = built_charms[ORIGINAL]
    assert (charm / rel).read_bytes() == (ORIGINAL_STAND_IN / rel).read_bytes()
    assert manifest(charm)[rel][0] == "layer:coordinator"


@pytest.mark.charms(ORIGINAL)
def test_the_original_layer_stand_in_ships_its_own_hooks_as_the_original_does(built_charms):
    charm = built_charms[ORIGINAL]
    own = sorted(
        rel
        for rel, (layer, _kind, _sig) in manifest(charm).items()
        if rel.startswith("hooks/")
        and not rel.startswith("hooks/relations/")
        and layer == "layer:coordinator"
    )
    assert own == ORIGINAL_HOOKS
    assert all(os.access(charm / rel, os.X_OK) for rel in own)


@pytest.mark.charms(ORIGINAL)
def test_the_original_layer_stand_in_takes_the_original_options(built_charms):
    built = load_yaml(built_charms[ORIGINAL] / "layer.yaml")["options"]["coordinator"]
    assert built == {"class": "charms.coordinator.SimpleCoordinator", "log_level": "debug"}


@pytest.mark.charms(ORIGINAL)
def test_build_instructions_stay_out_of_the_built_charm(built_charms):
    assert not (built_charms[ORIGINAL] / charmbuild.BUILD_FILE).exists()


def test_editing_a_stand_in_changes_only_the_cache_keys_of_charms_built_on_it(
    tmp_path, monkeypatch
):
    stand_ins = tmp_path / "layers"
    shutil.copytree(charmbuild.STAND_INS, stand_ins)
    monkeypatch.setattr(charmbuild, "STAND_INS", stand_ins)

    def key(name):
        source = charmbuild.FIXTURES / name
        return charmbuild._cache_key(source, charmbuild._layers_for(source))

    before = {name: key(name) for name in ("rolling-restart", ORIGINAL)}
    lib = stand_ins / "coordinator-original" / "lib" / "charms" / "coordinator.py"
    lib.write_text(lib.read_text() + "\n# edited\n")
    after = {name: key(name) for name in ("rolling-restart", ORIGINAL)}

    assert after["rolling-restart"] == before["rolling-restart"]
    assert after[ORIGINAL] != before[ORIGINAL]
    assert before[ORIGINAL] != before["rolling-restart"]


@pytest.mark.parametrize("target", ["../../lib", "missing", "basic/lib"])
def test_a_substitute_that_is_not_a_stand_in_layer_is_refused(tmp_path, target):
    charm = tmp_path / "charm"
    shutil.copytree(charmbuild.FIXTURES / ORIGINAL, charm)
    (charm / charmbuild.BUILD_FILE).write_text(
        yaml.safe_dump({"substitute": {"coordinator": target}})
    )
    with pytest.raises(charmbuild.CharmBuildError, match="not a stand-in layer folder"):
        charmbuild._layers_for(charm)
