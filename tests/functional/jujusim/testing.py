"""Helpers for tests that drive jujusim with the hand-written fixture charms."""

from __future__ import annotations

import os
import shutil
import textwrap

FIXTURES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jujusim_fixtures"
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
