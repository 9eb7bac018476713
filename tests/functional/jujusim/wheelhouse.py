"""The interpreter that runs a built charm's hooks, with the charm's own wheelhouse installed.

On a real machine layer:basic's bootstrap pip-installs the built charm's
``wheelhouse/`` (charms.reactive, charmhelpers and whatever the charm's
layers list) into a virtualenv before the first hook's handlers run. The
simulator does that once per wheelhouse, outside the hooks:
`hook_python(charm_dir)` makes a virtualenv with every package file of the
wheelhouse installed and returns its ``python``, cached by content (the
files' names and bytes, and the simulator's Python version), so a second
run, or another charm with the same wheelhouse, starts at once.

pip installs the wheelhouse's own files, so the versions are the
wheelhouse's: first from the wheelhouse alone, as layer:basic does (with
``--no-index``: what it needs to *build* an sdist, such as setuptools and
wheel, comes from the wheelhouse too; the real layer:basic ships them), and
if that fails, letting pip fetch those build tools from the package index
but no other package (``--no-deps``, then ``pip check``: a dependency the
wheelhouse lacks fails here as on a unit).
A file that cannot be installed fails with `WheelhouseError` naming its
package, and nothing is cached.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

# What pip can install from a wheelhouse: sdists and wheels.
PACKAGE_FILES = (".tar.gz", ".zip", ".whl", ".tar.bz2")

_REPO = Path(__file__).resolve().parents[3]


class WheelhouseError(RuntimeError):
    """A package of the charm's wheelhouse cannot be installed."""


def default_cache() -> Path:
    """``.cache/hook-python`` of this checkout (``make clean`` deletes it)."""
    return _REPO / ".cache" / "hook-python"


def package_files(charm_dir: str) -> List[Path]:
    wheelhouse = Path(charm_dir) / "wheelhouse"
    if not wheelhouse.is_dir():
        return []
    return sorted(p for p in wheelhouse.iterdir() if p.name.endswith(PACKAGE_FILES))


def package_name(path: Path) -> str:
    """The project name in a wheelhouse file name (``charms_reactive-1.5.3.tar.gz``)."""
    name = path.name
    for suffix in PACKAGE_FILES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if path.name.endswith(".whl"):
        return name.split("-")[0]
    m = re.match(r"^(.*?)-\d", name)
    return m.group(1) if m else name


def wheelhouse_key(files: List[Path]) -> str:
    digest = hashlib.sha256()
    # A virtualenv is tied to the interpreter that made it.
    digest.update(
        ("%s %d.%d\n" % ((os.path.realpath(sys.base_prefix),) + sys.version_info[:2])).encode()
    )
    for path in files:
        digest.update(path.name.encode() + b"\n")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def hook_python(charm_dir: str, cache: Optional[Path] = None, quiet: bool = True) -> str:
    """Return a Python with `charm_dir`'s wheelhouse installed; the current one if it has none.

    ``JUJUSIM_PYTHON`` in the environment names an interpreter to use instead
    (one you installed the wheelhouse into yourself).

    Raises `WheelhouseError` naming each package that cannot be installed,
    with the end of pip's output for it.
    """
    chosen = os.environ.get("JUJUSIM_PYTHON")
    if chosen:
        return os.path.abspath(chosen)
    files = package_files(charm_dir)
    if not files:
        return sys.executable
    cache = Path(cache or default_cache())
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / wheelhouse_key(files)
    python = final / "bin" / "python"
    complete = final / ".installed"
    with open(str(final) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete.exists():
            return str(python)
        # A virtualenv is bound to its path: build it in place, and mark it
        # complete last, so an interrupted install is started again.
        shutil.rmtree(final, ignore_errors=True)
        try:
            _install(final, files, quiet)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise
        complete.write_text("\n".join(p.name for p in files) + "\n")
    return str(python)


def _pip(venv: Path, args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "install"]
        + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
    )


def _install(venv: Path, files: List[Path], quiet: bool):
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    links = ["--find-links", str(files[0].parent)]
    if not quiet:
        print("installing the charm's wheelhouse into %s" % venv, file=sys.stderr)
    # First as layer:basic does on a unit: the wheelhouse alone, the build
    # tools an sdist needs (setuptools, wheel, ...) taken from it too.
    done = _pip(venv, ["--no-index"] + links + [str(p) for p in files])
    if done.returncode == 0:
        return
    # A wheelhouse without its build tools: let pip fetch those from the index,
    # and nothing else (--no-deps): a package the wheelhouse lacks must fail
    # here as it would on a unit.
    done = _pip(venv, ["--no-deps"] + links + [str(p) for p in files])
    if done.returncode == 0:
        check = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "check"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            universal_newlines=True,
        )
        if check.returncode == 0:
            return
        raise WheelhouseError(
            "the charm's wheelhouse lacks what its packages need (pip check):\n"
            + _tail(check.stdout, 20)
        )
    # Which files fail on their own? Name them, each with pip's last words.
    failed = []
    for path in files:
        alone = _pip(venv, links + ["--no-deps", str(path)])
        if alone.returncode:
            failed.append((path, alone.stdout))
    if not failed:
        failed = [(files[0].parent, done.stdout)]
    raise WheelhouseError(
        "cannot install the charm's wheelhouse into the hook interpreter:\n"
        + "\n".join(
            "  %s (%s):\n%s"
            % (package_name(path) if path.is_file() else "together", path, _tail(output))
            for path, output in failed
        )
    )


# pip's own words around a failed build, which say nothing about the package.
_BOILERPLATE = re.compile(
    r"note: This (error originates|is an issue)|See above for (output|details)|hint: See above"
    r"|^\s*[×╰│]|^\s*\[end of output\]|^\s*$"
)


def _tail(output: str, lines: int = 10) -> str:
    kept = [line for line in output.splitlines() if not _BOILERPLATE.search(line)]
    return "\n".join("      " + line.strip() for line in kept[-lines:])


STAND_IN_BASIC = _REPO / "tests" / "layers" / "basic" / "lib" / "charms" / "layer" / "basic.py"
_STAND_IN_MARK = "Test-only stand-in for ``layer:basic``"


def machine_ready(charm_dir: str, workdir: str, log) -> str:
    """The charm to run: `charm_dir`, or a copy whose layer:basic bootstrap is the stand-in's.

    The real layer:basic bootstraps the machine in a unit's first hook: apt
    packages, a virtualenv beside the charm with the wheelhouse in it, and
    ``/usr/local/sbin/charm-env``. None of that is coordination, and run here
    it would install packages on this machine. So a charm built on the real
    layer:basic runs with the project's stand-in ``charms.layer.basic``
    (``tests/layers/basic``: the same hook-start and hook-end config flags,
    and a bootstrap that only checks the hook interpreter has the wheelhouse
    installed, which `hook_python` did).
    """
    basic = Path(charm_dir) / "lib" / "charms" / "layer" / "basic.py"
    if not basic.is_file() or _STAND_IN_MARK in basic.read_text(errors="replace"):
        return charm_dir
    copy = Path(workdir) / Path(charm_dir).name
    n = 1
    while copy.exists():
        n += 1
        copy = Path(workdir) / ("%s-%d" % (Path(charm_dir).name, n))
    shutil.copytree(charm_dir, str(copy), symlinks=True)
    target = copy / "lib" / "charms" / "layer" / "basic.py"
    target.unlink()
    shutil.copyfile(str(STAND_IN_BASIC), str(target))
    log(
        "layer:basic's bootstrap (apt packages, a virtualenv, charm-env) is the machine's: "
        "%s runs with the wheelhouse installed and tests/layers/basic's bootstrap" % copy.name
    )
    return str(copy)


def ready_charm(charm_dir: str, workdir: Optional[str] = None, log=None) -> Tuple[str, str]:
    """For a scripted scenario: (the charm folder to run, the hook interpreter).

    Installs the wheelhouse (`hook_python`) and, for a charm built on the real
    layer:basic, makes the copy `machine_ready` describes in `workdir` (a new
    temporary folder if None; the caller removes it).
    """
    python = hook_python(charm_dir)
    workdir = workdir or tempfile.mkdtemp(prefix="jujusim-charm-")
    return machine_ready(charm_dir, workdir, log or (lambda note: None)), python
