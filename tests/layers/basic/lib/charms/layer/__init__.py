"""Shared namespace of the layer libraries (``charms.layer.<name>``).

Test-only stand-in for ``layer:basic``'s ``charms.layer`` package (see
``tests/layers/README.md``). Every layer of a charm may add a module here, so
the package extends its path over every ``charms/layer`` folder on
``sys.path`` (a built charm has one, under ``lib/``; unit tests may put each
layer's ``lib/`` on the path separately).

Simplification: the real package also makes ``charms.layer.options`` callable
(the legacy ``layer.options('section')`` form). It is left out on purpose, so
that a charm still using that form fails here instead of passing by accident:
use ``charms.layer.options.get()``.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__all__ = ["import_layer_libs"]

# The base layers' own modules: importing them for side effects is pointless.
_BASE_MODULES = {"basic", "options"}


def import_layer_libs():
    """Import every ``charms.layer.<name>`` module the charm ships.

    Layers use this to let their libraries register handlers or hooks at
    import time. Reads the modules from ``lib/charms/layer`` in the working
    directory (the charm directory in a hook). Sets and clears no flags.
    """
    # Imported here: this package is imported by every hook before anything
    # else, and most hooks never call this function.
    from importlib import import_module
    from pathlib import Path

    for entry in sorted(Path("lib/charms/layer").iterdir()):
        name = entry.stem if entry.suffix == ".py" else entry.name
        if name.startswith(("_", ".")) or name in _BASE_MODULES:
            continue
        if entry.is_dir() or entry.suffix == ".py":
            import_module("charms.layer." + name)
