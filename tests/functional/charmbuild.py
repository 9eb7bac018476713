"""Build the functional tests' fixture charms with the real ``charm build``, offline.

Each fixture under ``tests/functional/charms/<name>/`` is a charm layer. To build
one, this module stages a private ``CHARM_LAYERS_DIR`` holding:

- ``basic`` and ``options``: the test stand-ins from ``tests/layers/``;
- ``coordinator``: a clean copy of this repository, i.e. the files git would
  ship (tracked, plus untracked ones that ``.gitignore`` does not ignore), so
  the layer's own ``layer.yaml`` ``exclude:`` list decides what reaches the
  built charm, exactly as in a real build;
- any other fixture a fixture includes (``layer:<fixture name>``);

then runs ``charm-build`` from the current Python environment with no layer
index, so nothing is fetched but the wheelhouse's packages from PyPI.

A fixture can be built on a stand-in in place of a layer: a ``charmbuild.yaml``
beside its ``layer.yaml`` (read here, never staged) maps layer names to
folders of ``tests/layers/``::

    substitute:
      coordinator: coordinator-original

stages ``tests/layers/coordinator-original`` as ``layer:coordinator`` for every
include of that name in the charm's include tree, so the built charm carries
the stand-in under the layer's own name (its option section, file paths and
manifest entries). Only the built fixture's own ``charmbuild.yaml`` counts.

``build_charm(name, layer_source=folder)`` stages another folder as
``layer:coordinator`` in place of this repository, all of its files (such as
an earlier revision of the layer unpacked from ``git archive``: the bench's
``--before``); a fixture's ``substitute:`` still wins over it.

Built charms are cached under ``.cache/charms/<name>-<key>/``; the key hashes
everything that can change the result: the staged layer files that reach the
build (the coordinator layer, or the ``layer_source`` staged in its place,
minus what its ``exclude:`` list drops; a substituted layer's stand-in
folder, under the name it is staged as), the
charm-tools and Python versions, ``tests/requirements.txt`` and this file. A
cached build is reused; a file lock per key lets concurrent test sessions share
the cache without corrupting it, and a finished build appears under its final
name in one rename. Treat a built charm as read-only: copy it before running
hooks in it.

Use::

    from charmbuild import build_charm, build_charm_expecting_failure, cache_key, prebuild

    path = build_charm("rolling-restart")          # pathlib.Path of the charm
    key = cache_key("rolling-restart", layer_source=folder)  # its key; builds nothing
    paths = prebuild(["rolling-restart", "two-at-once"], jobs=2)
    text = build_charm_expecting_failure(some_layer_dir)  # charm build's output

or from a shell: ``python tests/functional/charmbuild.py [--jobs N] [NAME...]``
prints one built charm path per line (all fixtures when no name is given).
"""

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "CharmBuildError",
    "build_charm",
    "build_charm_expecting_failure",
    "cache_key",
    "fixture_names",
    "prebuild",
    "proof",
]

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "functional" / "charms"
STAND_INS = REPO / "tests" / "layers"
REQUIREMENTS = REPO / "tests" / "requirements.txt"
CACHE = REPO / ".cache" / "charms"
PIP_CACHE = REPO / ".cache" / "pip"

# The layer under test, and where its source is: this repository.
LAYER_NAME = "coordinator"
LAYER_SOURCE = REPO

# A fixture's build instructions for this module (see the module docstring);
# hashed into the cache key with the fixture's other files, never staged.
BUILD_FILE = "charmbuild.yaml"

# Never staged from the repository, even when git does not ignore them.
_NEVER_STAGED = {".git", ".venv", ".tox", ".cache", "build", "dist", "__pycache__"}

# Extra lines for the charm's wheelhouse.txt, given to charm build with
# --wheelhouse-overrides. charm-tools downloads the wheelhouse with
# `pip download --no-binary :all:`, which also builds every build dependency
# from source; PyYAML's sdist needs Cython to build, which then takes about
# three minutes of C compiling per build. Cython never lands in wheelhouse/,
# so taking its wheel changes nothing in the built charm.
_WHEELHOUSE_OVERRIDES = "--only-binary Cython\n"

# Builds kept per fixture in the cache; older ones are removed.
_KEEP_BUILDS = 3


class CharmBuildError(RuntimeError):
    """``charm build`` failed, or did not fail when it should have.

    ``output`` holds everything the build printed.
    """

    def __init__(self, message, output=""):
        super().__init__(message)
        self.output = output


def fixture_names():
    """Return the names of all fixture charms, sorted."""
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "layer.yaml").is_file())


# --- sources ----------------------------------------------------------------


def _load_yaml(path):
    import yaml

    with open(path, encoding="utf-8") as stream:
        return yaml.safe_load(stream) or {}


def walk_files(root):
    """Relative paths of the files under root, minus caches."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _NEVER_STAGED)
        for name in files:
            if not name.endswith((".pyc", ".pyo")):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def _git_files(root):
    """The files under root as git would ship them (see module docstring)."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return walk_files(root)  # not a git checkout (e.g. an unpacked tarball)
    files = []
    for rel in listing.split("\0"):
        parts = rel.split("/")
        if not rel or parts[0] in _NEVER_STAGED or "__pycache__" in parts:
            continue
        if (root / rel).is_file():  # skips files deleted but not yet committed
            files.append(rel)
    return sorted(files)


def _substitutes(source):
    """{layer name: stand-in folder} from the fixture's ``charmbuild.yaml`` (module docstring)."""
    path = source / BUILD_FILE
    if not path.is_file():
        return {}
    data = _load_yaml(path)
    substitute = data.get("substitute") or {}
    unknown = sorted(set(data) - {"substitute"})
    if unknown or not isinstance(substitute, dict):
        raise CharmBuildError(
            "{}: expected only a mapping 'substitute: {{layer name: folder of {}}}'".format(
                path, STAND_INS
            )
        )
    folders = {}
    for name, stand_in in substitute.items():
        folder = STAND_INS / str(stand_in)
        if not (folder / "layer.yaml").is_file() or folder.parent != STAND_INS:
            raise CharmBuildError(
                "{}: layer:{} -> {!r} is not a stand-in layer folder in {}".format(
                    path, name, stand_in, STAND_INS
                )
            )
        folders[str(name)] = folder
    return folders


def _resolve_layer(name, substitutes, layer_source=LAYER_SOURCE):
    """Source folder of ``layer:<name>``."""
    if name in substitutes:
        return substitutes[name]
    if name == LAYER_NAME:
        return layer_source
    for base in (STAND_INS, FIXTURES):
        if (base / name / "layer.yaml").is_file():
            return base / name
    raise CharmBuildError(
        "layer:{} is not available offline: the test build knows layer:{} (this repository), "
        "the stand-ins in {} and the fixtures in {}".format(name, LAYER_NAME, STAND_INS, FIXTURES)
    )


def _layers_for(source, layer_source=LAYER_SOURCE):
    """Map each layer the charm at ``source`` includes, directly or not, to its folder.

    ``layer:coordinator`` is ``layer_source`` unless the fixture substitutes it.
    """
    substitutes = _substitutes(source)
    layers = {}
    pending = [source]
    while pending:
        folder = pending.pop()
        for include in _load_yaml(folder / "layer.yaml").get("includes") or []:
            kind, _, name = include.partition(":")
            if kind != "layer" or not name:
                raise CharmBuildError(
                    "{}: include {!r} is not supported offline (only layer:<name>)".format(
                        folder, include
                    )
                )
            if name not in layers:
                layers[name] = _resolve_layer(name, substitutes, layer_source)
                pending.append(layers[name])
    return layers


def _layer_files(folder):
    return _git_files(folder) if folder == LAYER_SOURCE else walk_files(folder)


def _shipped_files(folder, files):
    """The files of a layer that can reach the built charm.

    Applies the layer's own ``exclude:`` list the way charm-tools does (a
    gitignore-style pathspec.PathSpec, from the pathspec release charm-tools
    pins), so the cache key ignores edits to files, such as tests, that the
    build drops anyway. charm-tools' few default ignores are not applied:
    hashing a file too many costs a rebuild at most.
    """
    import pathspec

    excludes = _load_yaml(folder / "layer.yaml").get("exclude") or []
    spec = pathspec.PathSpec.from_lines("gitwildmatch", excludes)
    return [rel for rel in files if rel == "layer.yaml" or not spec.match_file(rel)]


# --- cache key --------------------------------------------------------------


def _charm_tools_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("charm-tools")
    except PackageNotFoundError:
        raise CharmBuildError(
            "charm-tools is not installed in {}: install tests/requirements.txt "
            "(`make test` creates .venv with it)".format(sys.executable)
        ) from None


class ContentDigest:
    """A short sha256 key of parts, each length-prefixed so no two part lists collide."""

    def __init__(self):
        self._sha = hashlib.sha256()

    def add(self, *parts):
        for part in parts:
            data = part if isinstance(part, bytes) else str(part).encode()
            self._sha.update(len(data).to_bytes(8, "big") + data)

    def key(self) -> str:
        return self._sha.hexdigest()[:16]


def _cache_key(source, layers, layer_source=LAYER_SOURCE):
    digest = ContentDigest()
    digest.add("charmbuild-v1", _charm_tools_version(), sys.implementation.name, sys.version)
    digest.add(
        REQUIREMENTS.read_bytes() if REQUIREMENTS.exists() else b"", Path(__file__).read_bytes()
    )
    for name, folder in sorted(layers.items()) + [("", source)]:
        files = _layer_files(folder)
        if folder == layer_source:
            files = _shipped_files(folder, files)
        digest.add("layer", name, len(files))
        for rel in files:
            path = folder / rel
            digest.add(rel, os.access(path, os.X_OK), hashlib.sha256(path.read_bytes()).digest())
    return digest.key()


# --- building ---------------------------------------------------------------


def _tool(name):
    """Path of a charm-tools command, preferring this environment's."""
    for candidate in (Path(sys.executable).parent / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise CharmBuildError(
        f"{name} was not found beside {sys.executable} nor on PATH: install "
        "tests/requirements.txt (`make test` does, through tox)"
    )


def _build_env(stage):
    env = dict(os.environ)
    # charm build writes `git describe` of the charm's folder into the charm's
    # version file. Keep git from finding this repository above the staging
    # folder: the version would change with every commit, unlike the cache key.
    env["GIT_CEILING_DIRECTORIES"] = str(stage)
    for name in (
        "JUJU_REPOSITORY",
        "LAYER_PATH",
        "INTERFACE_PATH",
        "CHARM_BUILD_DIR",
        "CHARM_CACHE_DIR",
    ):
        env.pop(name, None)
    # charm build runs `virtualenv --python python3` and pip for the
    # wheelhouse: take both from this environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(
        CHARM_LAYERS_DIR=str(stage / "layers"),
        CHARM_INTERFACES_DIR=str(stage / "interfaces"),
        CHARM_HIDE_METRICS="1",
        PIP_CACHE_DIR=str(PIP_CACHE),
        PIP_NO_INPUT="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        # The build virtualenv gets pip<23.1, which with --no-binary never
        # reads its own cache of wheels built from source unless asked to
        # (pypa/pip#11453). With it, a warm build takes ~20 s instead of ~40.
        PIP_USE_FEATURE="no-binary-enable-wheel-cache",
    )
    return env


def _copy_files(src, files, dest):
    for rel in files:
        if rel == BUILD_FILE:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)


def _stage(source, layers, stage):
    """Copy the charm and its layers into ``stage``; return the charm's copy."""
    (stage / "interfaces").mkdir(parents=True)
    for name, folder in layers.items():
        _copy_files(folder, _layer_files(folder), stage / "layers" / name)
    charm = stage / "src" / source.name
    _copy_files(source, _layer_files(source), charm)
    overrides = stage / "wheelhouse-overrides.txt"
    overrides.write_text(_WHEELHOUSE_OVERRIDES)
    return charm


def _run_charm_build(source, layers, stage):
    """Run charm build; return (exit code, output, built charm folder or None)."""
    charm = _stage(source, layers, stage)
    out = stage / "out"
    command = [
        _tool("charm-build"),
        "--hide-metrics",
        # No layer index: a layer missing from CHARM_LAYERS_DIR fails at once
        # instead of being looked up online.
        "--layer-index",
        (stage / "no-layer-index").as_uri() + "/",
        "--wheelhouse-overrides",
        str(stage / "wheelhouse-overrides.txt"),
        "--build-dir",
        str(out),
        "--cache-dir",
        str(stage / "charm-cache"),
        str(charm),
    ]
    result = subprocess.run(
        command,
        cwd=charm,
        env=_build_env(stage),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    built = [p for p in out.iterdir() if p.is_dir()] if out.is_dir() else []
    output = "$ {}\n{}".format(" ".join(command), result.stdout)
    return result.returncode, output, built[0] if len(built) == 1 else None


def _beside(build, suffix):
    return build.parent / (build.name + suffix)


@contextmanager
def _file_lock(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(name, keep):
    """Remove all but the newest ``_KEEP_BUILDS`` cached builds of a fixture."""
    builds = sorted(
        CACHE.glob(name + "-" + "?" * 16), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in builds[_KEEP_BUILDS:]:
        if old != keep:
            with _file_lock(_beside(old, ".lock")):
                shutil.rmtree(old, ignore_errors=True)
                _beside(old, ".log").unlink(missing_ok=True)


_memo = {}
_memo_lock = threading.Lock()
_name_locks = {}


def _fixture(name, layer_source):
    """(fixture folder, folder staged as layer:coordinator) of ``build_charm``'s arguments."""
    source = FIXTURES / name
    if not (source / "layer.yaml").is_file():
        raise CharmBuildError(
            "no fixture charm {!r} in {} (have: {})".format(
                name, FIXTURES, ", ".join(fixture_names())
            )
        )
    if layer_source is None:
        return source, LAYER_SOURCE
    layer_source = Path(layer_source).resolve()
    if not (layer_source / "layer.yaml").is_file():
        raise CharmBuildError("layer_source {} has no layer.yaml".format(layer_source))
    return source, layer_source


def build_charm(name, layer_source=None):
    """Build fixture ``name`` (or reuse its cached build); return the charm folder.

    ``layer_source``, a folder, is staged as ``layer:coordinator`` in place of
    this repository (for instance an earlier revision of the layer, unpacked
    from ``git archive``); its files are hashed into the cache key as the
    repository's are, so equal contents share a build. Default: this
    repository.

    Raises CharmBuildError with charm build's whole output when the build
    fails. Builds each fixture at most once per process and, through the
    on-disk cache, at most once per set of inputs.
    """
    source, layer_source = _fixture(name, layer_source)
    memo = (name, layer_source)
    with _memo_lock:
        name_lock = _name_locks.setdefault(memo, threading.Lock())
    with name_lock:
        if memo not in _memo:
            _memo[memo] = _build_cached(name, source, layer_source)
        return _memo[memo]


def cache_key(name, layer_source=None):
    """The cache key ``build_charm(name, layer_source)`` builds under, without building."""
    source, layer_source = _fixture(name, layer_source)
    return _cache_key(source, _layers_for(source, layer_source), layer_source)


def _build_cached(name, source, layer_source=LAYER_SOURCE):
    layers = _layers_for(source, layer_source)
    final = CACHE / "{}-{}".format(name, _cache_key(source, layers, layer_source))
    log = _beside(final, ".log")
    with _file_lock(_beside(final, ".lock")):
        if final.is_dir():  # built earlier, or by another process while we waited
            os.utime(final)  # pruning keeps the most recently used builds
            return final
        stage = Path(tempfile.mkdtemp(prefix=".stage-{}-".format(name), dir=CACHE))
        try:
            started = time.monotonic()
            code, output, built = _run_charm_build(source, layers, stage)
            log.write_text(output)
            # Exit code 100 means proof found warnings only: the charm is built.
            if code not in (0, 100) or built is None:
                raise CharmBuildError(
                    "charm build of fixture {!r} failed with exit code {} (log: {}):\n{}".format(
                        name, code, log, output
                    ),
                    output,
                )
            os.rename(built, final)
            log.write_text(output + "\n# built in {:.1f} s\n".format(time.monotonic() - started))
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    _prune(name, keep=final)
    return final


def build_charm_expecting_failure(source):
    """Run a build that must fail; return charm build's output.

    ``source`` is a fixture name or the folder of a charm layer (for example
    one a test wrote to a temporary folder); it may include any layer a
    fixture can. Nothing is cached. Raises CharmBuildError if the build
    succeeds.
    """
    source = Path(source) if isinstance(source, Path) or os.sep in source else FIXTURES / source
    source = source.resolve()
    layers = _layers_for(source)
    CACHE.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".stage-fail-{}-".format(source.name), dir=CACHE))
    try:
        code, output, built = _run_charm_build(source, layers, stage)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if code in (0, 100) and built is not None:
        raise CharmBuildError(
            "charm build of {} succeeded but was expected to fail:\n{}".format(source, output),
            output,
        )
    return output


def proof(charm):
    """Run ``charm proof`` on a built charm; return (exit code, output).

    The exit code is 0 when proof has nothing to say or only notes (I:), 100
    with warnings (W:) and 200 with errors (E:).
    """
    result = subprocess.run(
        [_tool("charm-proof"), str(charm)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return result.returncode, result.stdout


def prebuild(names, jobs=2):
    """Build several fixtures in parallel; return {name: charm folder}.

    Runs up to ``jobs`` builds at once (each is one ``charm build`` process).
    Raises the first CharmBuildError after all builds have finished.
    """
    names = list(dict.fromkeys(names))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {name: pool.submit(build_charm, name) for name in names}
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    if errors:
        raise errors[0]
    return {name: future.result() for name, future in futures.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build fixture charms; print their paths.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="fixture names (default: all)")
    parser.add_argument(
        "--jobs", "-j", type=int, default=2, help="builds to run at once (default: 2)"
    )
    parser.add_argument(
        "--proof", action="store_true", help="also run charm proof; fail on any error (E:)"
    )
    args = parser.parse_args(argv)
    try:
        paths = prebuild(args.names or fixture_names(), jobs=args.jobs)
    except CharmBuildError as error:
        print(error, file=sys.stderr)
        return 1
    failed = False
    for path in paths.values():
        if args.proof:
            code, output = proof(path)
            print(f"charm proof {path}: exit {code}\n{output}", file=sys.stderr)
            failed = failed or code >= 200
        print(path)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
