"""The layer's own files: YAML that parses, actions that exist, no stray hooks."""

import os
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def load(name):
    return yaml.safe_load((ROOT / name).read_text())


def test_every_action_in_actions_yaml_has_an_executable_script_and_back():
    declared = set(load("actions.yaml"))
    scripts = {p.name for p in (ROOT / "actions").iterdir()}

    assert declared == scripts
    assert all(os.access(ROOT / "actions" / name, os.X_OK) for name in scripts)


def test_layer_yaml_defines_every_option_with_type_default_and_description():
    defines = load("layer.yaml")["defines"]

    for name, schema in defines.items():
        assert "default" in schema, name
        assert "description" in schema, name
        assert "type" in schema or "oneOf" in schema, name


def test_metadata_declares_the_coordinator_peer_relation():
    assert load("metadata.yaml")["peers"] == {"coordinator": {"interface": "coordinator"}}


def test_hooks_holds_only_the_peer_endpoint():
    files = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "hooks").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )

    assert files == ["hooks/relations/coordinator/peers.py"]


def test_no_charms_namespace_init_is_shipped():
    assert not (ROOT / "lib" / "charms" / "__init__.py").exists()
