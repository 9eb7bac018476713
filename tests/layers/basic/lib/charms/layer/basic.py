"""Hook bootstrap and ``config.*`` flags of a reactive charm.

Test-only stand-in for ``layer:basic``'s ``charms.layer.basic`` (see
``tests/layers/README.md``). The hook template calls
``bootstrap_charm_deps()`` first, then registers ``init_config_states`` to run
when the hook starts and ``clear_config_states`` to run when it ends, both
before it imports charms.reactive (whose import registers callbacks of its
own). As in the real layer, ``init_config_states`` registers
``clear_config_states`` to run at the end of the hook once more, and
``clear_config_states`` saves the unit's key/value store (unitdata) when it
is done.

Simplification: the real bootstrap installs apt packages and pip-installs the
charm's ``wheelhouse/`` (into a virtualenv by default). This one installs
nothing. It checks instead that the running interpreter already has every
wheelhouse package at the wheelhouse's version, and stops the hook with
``WheelhouseMismatch`` otherwise, so a test can never run a charm against
library versions other than the ones it was built with.

Flags (all cleared again when the hook ends successfully):

- ``config.changed``: set when any option differs from the previous hook's
  value. In a unit's first hook every option counts as changed.
- ``config.changed.<opt>``: set when ``<opt>`` changed, on the same rule.
- ``config.set.<opt>``: set when ``<opt>`` has a true value (not empty, not 0,
  not false).
- ``config.default.<opt>``: set when ``<opt>`` equals its default in
  ``config.yaml``.
"""

import os
import re
import sys

__all__ = [
    "activate_venv",
    "WheelhouseMismatch",
    "bootstrap_charm_deps",
    "check_wheelhouse",
    "clear_config_states",
    "init_config_states",
]

_SDIST_SUFFIXES = (".tar.gz", ".tar.bz2", ".tgz", ".zip")
_CONFIG_FLAG_PREFIXES = ("config.changed.", "config.set.", "config.default.")


class WheelhouseMismatch(RuntimeError):
    """The interpreter lacks a wheelhouse package, or has another version."""


def _charm_dir():
    # Read the variables directly: charmhelpers must not be imported before
    # its version has been checked.
    return os.environ.get("JUJU_CHARM_DIR") or os.environ.get("CHARM_DIR") or os.getcwd()


def _canonical(name):
    # PEP 503 name normalisation: "charms.reactive", "charms_reactive" and
    # "Charms-Reactive" are the same project.
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheelhouse_pins(wheelhouse):
    """Return {canonical name: (file name, version)} for each archive."""
    pins = {}
    for filename in sorted(os.listdir(wheelhouse)):
        if filename.endswith(".whl"):
            name, version = filename.split("-")[:2]
        else:
            stem = next(
                (filename[: -len(s)] for s in _SDIST_SUFFIXES if filename.endswith(s)), None
            )
            if stem is None or "-" not in stem:
                continue  # not a package archive (e.g. a marker file)
            name, _, version = stem.rpartition("-")
        pins[_canonical(name)] = (filename, version)
    return pins


def _installed_versions(wanted):
    """Return {canonical name: version} for the wanted distributions.

    Walks ``sys.path`` in order, as the import system does, so the first
    folder holding a distribution decides its version. Reads folder listings
    only: importlib.metadata would cost more than the whole check.
    """
    found = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue  # a zip file or a folder that does not exist
        for meta in names:
            if meta.endswith(".dist-info"):
                stem = meta[: -len(".dist-info")]
            elif meta.endswith(".egg-info"):
                stem = meta[: -len(".egg-info")]
            else:
                continue
            parts = stem.split("-")
            if len(parts) < 2:
                continue
            name = _canonical(parts[0])
            if name in wanted and name not in found:
                found[name] = parts[1]
        if len(found) == len(wanted):
            break
    return found


def check_wheelhouse(charm_dir=None):
    """Check that the interpreter has the charm's wheelhouse versions.

    Reads package names and versions from the archive names in the charm's
    ``wheelhouse/`` folder. Does nothing if the charm has no wheelhouse.
    Raises WheelhouseMismatch naming every package that is missing or at
    another version. Sets and clears no flags.
    """
    wheelhouse = os.path.join(charm_dir or _charm_dir(), "wheelhouse")
    if not os.path.isdir(wheelhouse):
        return
    pins = _wheelhouse_pins(wheelhouse)
    installed = _installed_versions(pins)
    problems = []
    for name, (filename, version) in sorted(pins.items()):
        have = installed.get(name)
        if have is None:
            problems.append("{} {} is not installed (from {})".format(name, version, filename))
        elif have != version:
            problems.append(
                "{} {} is wanted but {} is installed (from {})".format(
                    name, version, have, filename
                )
            )
    if problems:
        raise WheelhouseMismatch(
            "The hook interpreter {} does not match the charm's wheelhouse:\n  {}\n"
            "The test stand-in for layer:basic installs nothing: run hooks with a "
            "Python that has tests/requirements.txt installed, and keep "
            "tests/layers/basic/wheelhouse.txt pinned to the same versions.".format(
                sys.executable, "\n  ".join(problems)
            )
        )


def activate_venv():
    """Make an action run with the charm's libraries, as hooks do.

    The real layer re-executes the action under its virtualenv's Python when
    ``use_venv`` is on. This stand-in installs no virtualenv (the simulator
    runs actions with a Python that has the charm's pinned libraries), so
    there is nothing to switch to; it checks the wheelhouse as hooks do.
    """
    check_wheelhouse(_charm_dir())


def bootstrap_charm_deps():
    """Prepare the interpreter to run the charm's reactive code.

    Puts the charm's ``bin/`` folder at the end of PATH, as the real layer
    does, then runs ``check_wheelhouse()``. Installs nothing. Sets and clears
    no flags.
    """
    charm_dir = _charm_dir()
    os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + os.path.join(charm_dir, "bin")
    check_wheelhouse(charm_dir)


def _config_defaults():
    import yaml
    from charmhelpers.core import hookenv

    path = os.path.join(hookenv.charm_dir() or _charm_dir(), "config.yaml")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as stream:
        options = (yaml.safe_load(stream) or {}).get("options") or {}
    return {name: (spec or {}).get("default") for name, spec in options.items()}


def init_config_states():
    """Set the ``config.*`` flags for this hook (see the module docstring).

    Compares each option with the value charmhelpers saved at the end of the
    previous successful hook, then registers ``clear_config_states`` with
    ``hookenv.atexit`` (the template has registered it already: it runs
    twice at the end of a hook, as in the real layer, and the second run
    finds nothing left to clear).
    """
    from charmhelpers.core import hookenv
    from charms.reactive import set_flag, toggle_flag

    config = hookenv.config()
    defaults = _config_defaults()
    for option in config.keys():
        if config.changed(option):
            set_flag("config.changed")
            set_flag("config.changed." + option)
        toggle_flag("config.set." + option, bool(config[option]))
        toggle_flag(
            "config.default." + option, option in defaults and config[option] == defaults[option]
        )
    hookenv.atexit(clear_config_states)


def clear_config_states():
    """Clear every ``config.*`` flag this layer sets, then save unitdata.

    Runs at the end of a hook. Saving the key/value store here (charms.reactive
    saves it again after the last end callback) is what the real layer does.
    """
    from charmhelpers.core import unitdata
    from charms.reactive import clear_flag, get_flags

    clear_flag("config.changed")
    for flag in get_flags():
        if flag.startswith(_CONFIG_FLAG_PREFIXES):
            clear_flag(flag)
    unitdata.kv().flush()
