"""Helpers for tests that drive jujusim with the hand-written fixture charms."""

from __future__ import annotations

import os
import shutil
import textwrap

FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jujusim_fixtures"
)
# The test stand-ins for layer:basic and layer:options (tests/layers/).
STAND_IN_LAYERS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "layers"
)


def fixture_charm(name: str) -> str:
    """Path of a fixture charm under tests/functional/jujusim_fixtures/."""
    path = os.path.join(FIXTURES, name)
    if not os.path.isdir(path):
        raise ValueError("no fixture charm %r in %s" % (name, FIXTURES))
    return path


def scripted_charm(dest: str, plan: str = "", remove_hooks=()) -> str:
    """Copy the `scripted` fixture charm to dest with `plan` as its plan.py."""
    dest = os.fspath(dest)
    shutil.copytree(fixture_charm("scripted"), dest)
    with open(os.path.join(dest, "plan.py"), "w") as f:
        f.write(textwrap.dedent(plan))
    for hook in remove_hooks:
        os.unlink(os.path.join(dest, "hooks", hook))
    return dest


def basic_layer_charm(dest: str, source: str = "reactive-peer") -> str:
    """Copy a fixture charm to dest with its hooks rendered from layer:basic's template.

    Does what ``charm build`` does with the stand-in base layers of
    ``tests/layers/`` for these files: every hook of the fixture becomes the
    stand-in's ``hooks/hook.template`` (which registers the ``config.*`` flag
    callbacks before it imports charms.reactive, as layer:basic's does) and
    the stand-ins' ``lib/charms/layer/`` modules are added to the charm's
    ``lib/``. The charm's own handlers stay as they are.
    """
    dest = os.fspath(dest)
    shutil.copytree(fixture_charm(source), dest)
    with open(os.path.join(STAND_IN_LAYERS, "basic", "hooks", "hook.template")) as f:
        template = f.read()
    hooks = os.path.join(dest, "hooks")
    for name in sorted(os.listdir(hooks)):
        path = os.path.join(hooks, name)
        with open(path, "w") as f:
            f.write(template)
        os.chmod(path, 0o755)
    layer_lib = os.path.join(dest, "lib", "charms", "layer")
    os.makedirs(layer_lib, exist_ok=True)
    for layer in ("basic", "options"):
        src = os.path.join(STAND_IN_LAYERS, layer, "lib", "charms", "layer")
        for name in sorted(os.listdir(src)):
            if name.endswith(".py"):
                shutil.copy(os.path.join(src, name), os.path.join(layer_lib, name))
    return dest


def run_until_work_starts(sim, unit=None, step=0.5, limit=600.0) -> str:
    """Advance `sim` until `unit` (or any unit) has started guarded work; return that unit.

    Guarded work is what the charm records with ``sim-journal start``.
    """
    deadline = sim.now + limit
    while sim.now < deadline:
        started = [e.unit for e in sim.journal if e.event == "start"]
        started = [u for u in started if unit is None or u == unit]
        if started:
            return started[0]
        sim.run_for(step)
    raise AssertionError("%s never started guarded work" % (unit or "no unit"))
