"""jujusim hook bootstrap: make this Debian test machine look like a Juju machine.

The simulator puts this directory first on PYTHONPATH of every hook process
(exec backend) and of the warm zygote (fork backend). It never touches charm
code; it patches two charmhelpers modules right after they are imported,
whichever copy of charmhelpers the charm ends up importing:

1. charmhelpers.osplatform.get_platform(): charmhelpers 1.2.1 looks for
   "debian" case-sensitively in /etc/os-release's NAME ("Debian GNU/Linux"),
   so importing charmhelpers.core.host raises
   "RuntimeError: This module is not supported on Debian GNU/Linux.".
   Upstream fixed it after 1.2.1 with a case-insensitive check
   (juju/charm-helpers PR #880, "Fix platform check for Debian 12";
   https://bugs.launchpad.net/charm-helpers/+bug/2040958). We apply the same
   case-insensitive check, which reports "ubuntu", as on a Juju machine.

2. charmhelpers.core.hookenv.juju_version() globs
   /var/lib/juju/tools/machine-*/jujud and runs `jujud version`. Only that
   module's glob of the /var/lib/juju/ prefix is redirected to the simulated
   machine's tree: the unit's CHARM_DIR is <root>/var/lib/juju/agents/unit-*/charm
   and the fake jujud lives in <root>/var/lib/juju/tools/machine-N/. The real
   /var/lib is never read or written.

It also installs the simulated wall clock (jujusim_clock.py) before anything
else can import datetime: time.time() and datetime.datetime.now() in a hook
follow the simulation, not the machine.
"""

import glob as _glob
import os
import sys

_JUJU_PREFIX = "/var/lib/juju/"


def _sim_juju_root():
    charm_dir = os.environ.get("CHARM_DIR") or os.environ.get("JUJU_CHARM_DIR") or ""
    marker = "/var/lib/juju/agents/"
    idx = charm_dir.find(marker)
    if idx <= 0:
        return None
    return charm_dir[:idx] + "/var/lib/juju/"


class _HookenvGlob(object):
    """Stands in for the `glob` module inside charmhelpers.core.hookenv only."""

    def __getattr__(self, name):
        return getattr(_glob, name)

    @staticmethod
    def glob(pattern, *args, **kwargs):
        root = _sim_juju_root()
        if root and isinstance(pattern, str) and pattern.startswith(_JUJU_PREFIX):
            pattern = root + pattern[len(_JUJU_PREFIX) :]
        return _glob.glob(pattern, *args, **kwargs)


def _patch_osplatform(module):
    original = module.get_platform

    def get_platform():
        try:
            return original()
        except RuntimeError:
            # Same check as upstream's fix: compare case-insensitively.
            if "debian" in module._get_platform_from_fs().lower():
                return "ubuntu"
            raise

    get_platform.__doc__ = original.__doc__
    module.get_platform = get_platform


def _patch_hookenv(module):
    module.glob = _HookenvGlob()


_PATCHES = {
    "charmhelpers.osplatform": _patch_osplatform,
    "charmhelpers.core.hookenv": _patch_hookenv,
}


class _PatchingLoader(object):
    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create else None

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)


class _PatchingFinder(object):
    """A meta path finder that patches selected modules right after they load."""

    def find_spec(self, name, path=None, target=None):
        patch = _PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None

    def invalidate_caches(self):
        pass


def _install():
    finder = _PatchingFinder()
    sys.meta_path.insert(0, finder)
    for name, patch in _PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])


def _chain_next_sitecustomize():
    """Run the sitecustomize this one shadows, if the interpreter has one."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if os.path.abspath(entry or ".") == here:
            continue
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.isfile(candidate):
            with open(candidate) as f:
                code = compile(f.read(), candidate, "exec")
            exec(code, {"__name__": "sitecustomize", "__file__": candidate})
            return


_install()
import jujusim_clock  # noqa: E402  (this directory is on sys.path)

jujusim_clock.install()
_chain_next_sitecustomize()
