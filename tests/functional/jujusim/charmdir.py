"""Charm directories: metadata, per-unit hard-linked copies, state files.

Each unit gets its own copy of the built charm at
``<workdir>/var/lib/juju/agents/unit-<app>-<n>/charm`` (Juju's layout, so
layer:basic's ``../.venv`` lands in the unit's own agent directory), made of
hard links where the file system allows and plain copies otherwise. Files the
unit creates there (``.unit-state.db``, ``.charmhelpers.coordinator.*``,
``wheelhouse/.bootstrapped`` ...) are the unit's state and survive
upgrade-charm; the charm's own files are replaced.
"""

from __future__ import annotations

import errno
import fnmatch
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from typing import Dict, List

import yaml

from .model import SimulationError

# Never copied from a charm source: a built charm must not carry unit state.
STATE_PATTERNS = (".unit-state.db", ".unit-state.db-*", ".charmhelpers.coordinator.*")


def unit_root(workdir: str, unit: str) -> str:
    """The unit agent's directory, ``<workdir>/var/lib/juju/agents/unit-<app>-<n>``."""
    return os.path.join(workdir, "var", "lib", "juju", "agents", "unit-" + unit.replace("/", "-"))


@dataclass
class CharmInfo:
    path: str
    name: str
    peers: Dict[str, str] = field(default_factory=dict)  # relation name -> interface
    config_defaults: Dict[str, object] = field(default_factory=dict)
    config_types: Dict[str, str] = field(default_factory=dict)
    action_defaults: Dict[str, Dict[str, object]] = field(default_factory=dict)


def _load_yaml(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return yaml.safe_load(f)


def load_charm(path: str) -> CharmInfo:
    """Read metadata.yaml, config.yaml and actions.yaml of a (built) charm."""
    path = os.path.abspath(path)
    meta = _load_yaml(os.path.join(path, "metadata.yaml"))
    if not isinstance(meta, dict) or "name" not in meta:
        raise SimulationError("%s is not a charm: metadata.yaml with a name is missing" % path)
    info = CharmInfo(path=path, name=meta["name"])
    for rel, spec in (meta.get("peers") or {}).items():
        info.peers[rel] = (spec or {}).get("interface", rel) if isinstance(spec, dict) else spec
    config = _load_yaml(os.path.join(path, "config.yaml")) or {}
    for key, opt in (config.get("options") or {}).items():
        opt = opt or {}
        info.config_defaults[key] = opt.get("default")
        info.config_types[key] = opt.get("type", "string")
    actions = _load_yaml(os.path.join(path, "actions.yaml")) or {}
    for name, spec in actions.items():
        props = (spec or {}).get("params") or {}
        info.action_defaults[name] = {
            k: v.get("default") for k, v in props.items() if isinstance(v, dict) and "default" in v
        }
    return info


def _is_state_file(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pat) for pat in STATE_PATTERNS)


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
            raise
        shutil.copy2(src, dst)
    return dst


def install_charm_files(src: str, dst: str) -> List[str]:
    """Hard-link (or copy) the charm at src into dst; return the relative file list."""
    manifest = []
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        target_root = dst if rel_root == "." else os.path.join(dst, rel_root)
        os.makedirs(target_root, exist_ok=True)
        for name in files:
            if rel_root == "." and _is_state_file(name):
                continue
            source = os.path.join(root, name)
            target = os.path.join(target_root, name)
            if os.path.lexists(target):
                os.unlink(target)
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
            else:
                _link_or_copy(source, target)
            manifest.append(os.path.normpath(os.path.join(rel_root, name)))
        for name in dirs:
            source = os.path.join(root, name)
            if os.path.islink(source):
                target = os.path.join(target_root, name)
                if not os.path.lexists(target):
                    os.symlink(os.readlink(source), target)
                manifest.append(os.path.normpath(os.path.join(rel_root, name)))
    return manifest


def replace_charm_files(old_manifest: List[str], src: str, dst: str) -> List[str]:
    """upgrade-charm: drop the old charm's files, keep the unit's, install the new."""
    for rel in old_manifest:
        path = os.path.join(dst, rel)
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
    return install_charm_files(src, dst)


def read_kv(charm_dir: str) -> Dict[str, object]:
    """The unit's charmhelpers unitdata key/value store, decoded from JSON."""
    path = os.path.join(charm_dir, ".unit-state.db")
    if not os.path.exists(path):
        return {}
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        try:
            rows = conn.execute("SELECT key, data FROM kv").fetchall()
        except sqlite3.OperationalError:
            return {}
    finally:
        conn.close()
    result = {}
    for key, data in rows:
        try:
            result[key] = json.loads(data)
        except (TypeError, ValueError):
            result[key] = data
    return result


def read_flags(charm_dir: str) -> List[str]:
    """The charms.reactive flags set on the unit (keys ``reactive.states.<flag>``)."""
    prefix = "reactive.states."
    return sorted(k[len(prefix) :] for k in read_kv(charm_dir) if k.startswith(prefix))
