"""Read the layer options of a built charm.

Test-only stand-in for ``layer:options`` (see ``tests/layers/README.md``). It
offers the same public call, ``get(section=None, option=None, layer_file=...)``:
``charm build`` validates every layer's options against its ``defines:`` schema
and writes them, defaults filled in, into the built charm's ``layer.yaml``
under ``options:``; this module reads them back.

Simplification: nothing beyond ``get()`` is provided.
"""

import os
from pathlib import Path

__all__ = ["get"]

_LAYER_YAML = "layer.yaml"

# Parsed layer files by resolved path. One hook is one process, so a cache that
# lives as long as the process never serves a file from another charm revision.
_cache = {}


def _charm_dir():
    from charmhelpers.core import hookenv

    return Path(hookenv.charm_dir() or os.getcwd())


def _load(layer_file):
    path = (_charm_dir() / layer_file).resolve()
    if path not in _cache:
        import yaml

        with path.open(encoding="utf-8") as stream:
            _cache[path] = yaml.safe_load(stream) or {}
    return _cache[path]


def get(section=None, option=None, layer_file=_LAYER_YAML):
    """Return layer options from the built charm's ``layer.yaml``.

    With no arguments, return every section as a dict of dicts. With
    ``section``, return that layer's options as a dict (empty if the layer set
    none). With ``section`` and ``option``, return that one value, or None if it
    is not set. A relative ``layer_file`` is taken from the charm directory.

    Raises ValueError when ``option`` is given without ``section``. Sets and
    clears no flags.
    """
    if option is not None and section is None:
        raise ValueError("options.get(): an option needs its section")
    data = _load(layer_file).get("options") or {}
    if section is None:
        return data
    data = data.get(section) or {}
    if option is None:
        return data
    return data.get(option)
