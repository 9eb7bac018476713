"""Warm parent of the jujusim fork backend.

Started once per simulation as `python jujusim_zygote.py CTRL_FD TOOLS_DIR
MODULE...` with the bootstrap directory on PYTHONPATH (so sitecustomize's
quirk patches apply). It imports MODULE... (charms.reactive, charmhelpers,
yaml), never calls any hookenv function, then serves JSON-line requests on
CTRL_FD:

  {"op": "spawn", "id": N, "path": ..., "env": {...}, "cwd": ..., "out": ...,
   "mode": "runpy" | "exec"}  ->  {"op": "spawned", "id": N, "pid": P}
and reports every child's end as {"op": "exit", "pid": P, "rc": RC}
(RC < 0: killed by signal -RC), like subprocess.Popen.returncode.

Each hook runs in a fresh fork, so charmhelpers' and charms.reactive's
module-level state, sys.modules, the environment and the cwd of one hook can
never reach another.

Import-time callbacks. Importing charms.reactive registers start and end
callbacks with charmhelpers (``hookenv.atstart``/``hookenv.atexit``: its
tracer, automatic flags, relation and endpoint start-up, trigger clean-up).
charmhelpers runs start callbacks in registration order and end callbacks in
reverse, so the order matters: layer:basic's hook template registers its
``config.*`` flag callbacks *before* it imports charms.reactive. Here that
import happened in the zygote, before any hook code. So a forked child
starts with the hook-callback lists as a new interpreter has them (the
registrations a pre-import made are taken out again), and the pre-imported
package stays out of ``sys.modules`` until the hook first imports it; at
that moment the package's modules come back and its registrations are
appended, exactly where an executed hook's import would have made them.
"""

import json
import os
import select
import signal
import sys
import traceback
from importlib.machinery import ModuleSpec


def _live_extend_path(package):
    """Make an extend_path() package recompute its __path__ from sys.path on use.

    In a real hook `charms` is imported after the hook appended 'lib' to
    sys.path, so pkgutil.extend_path() includes the charm's lib/charms. Here
    `charms` was imported before the fork; this list recomputes the same
    result lazily, in the hook's cwd and sys.path.
    """
    module = sys.modules.get(package)
    if module is None or not isinstance(getattr(module, "__path__", None), list):
        return
    base = list(module.__path__)
    parts = package.split(".")

    class LivePath(list):
        def _refresh(self):
            seen = list(base)
            for entry in sys.path:
                if not isinstance(entry, str):
                    continue
                candidate = os.path.join(entry, *parts)
                if candidate not in seen and os.path.isdir(candidate):
                    seen.append(candidate)
            list.__init__(self, seen)

        def __iter__(self):
            self._refresh()
            return list.__iter__(self)

        def __len__(self):
            self._refresh()
            return list.__len__(self)

        def __getitem__(self, i):
            self._refresh()
            return list.__getitem__(self, i)

    module.__path__ = LivePath(base)


HOOKENV = "charmhelpers.core.hookenv"


def _callback_lists():
    """charmhelpers' lists of start and end callbacks ([] and [] before it is imported)."""
    hookenv = sys.modules.get(HOOKENV)
    if hookenv is None:
        return [], []
    return hookenv._atstart, hookenv._atexit


class DeferredImport(object):
    """A pre-imported package a forked hook sees as not imported yet.

    `modules` are the package's modules the zygote loaded (name -> module);
    `atstart` and `atexit` are the callbacks their import registered, in
    order. `hide()` takes both out of the process; the hook's first import of
    the package (this object is then a meta path finder and loader) puts the
    modules back and registers the callbacks again, at that point of the hook.
    """

    def __init__(self, name, modules, atstart, atexit):
        self.name = name
        self.modules = modules
        self.atstart = atstart
        self.atexit = atexit
        self.spec = modules[name].__spec__

    def hide(self):
        atstart, atexit = _callback_lists()
        atstart[:] = [cb for cb in atstart if not any(cb is mine for mine in self.atstart)]
        atexit[:] = [cb for cb in atexit if not any(cb is mine for mine in self.atexit)]
        for name in self.modules:
            sys.modules.pop(name, None)
        parent, _, child = self.name.rpartition(".")
        if parent and parent in sys.modules and hasattr(sys.modules[parent], child):
            delattr(sys.modules[parent], child)
        sys.meta_path.insert(0, self)

    # -- importlib's finder and loader protocol --------------------------------------------
    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        module = self.modules[fullname]
        return ModuleSpec(fullname, self, is_package=hasattr(module, "__path__"))

    def create_module(self, spec):
        sys.meta_path.remove(self)
        sys.modules.update(self.modules)
        atstart, atexit = _callback_lists()
        atstart.extend(self.atstart)
        atexit.extend(self.atexit)
        return self.modules[self.name]

    def exec_module(self, module):
        # The import system set __spec__ to this loader's spec; the module's
        # own spec (origin, cached file) is the one its code was loaded with.
        module.__spec__ = self.spec


def preimport(names):
    """Import `names` in order; return a DeferredImport for each that registered callbacks."""
    deferred = []
    for name in names:
        before_modules = set(sys.modules)
        before_start, before_exit = (list(x) for x in _callback_lists())
        try:
            __import__(name)
        except Exception:
            # A module the charm does not have is simply not pre-imported.
            continue
        atstart, atexit = _callback_lists()
        new_start = [cb for cb in atstart if not any(cb is old for old in before_start)]
        new_exit = [cb for cb in atexit if not any(cb is old for old in before_exit)]
        if not new_start and not new_exit:
            continue
        modules = {
            m: sys.modules[m]
            for m in sorted(set(sys.modules) - before_modules)
            if m == name or m.startswith(name + ".")
        }
        deferred.append(DeferredImport(name, modules, new_start, new_exit))
    return deferred


def _run_child(req, ctrl_fd, wake_r, wake_w, tools_dir, tool_names, deferred=()):
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in (ctrl_fd, wake_r, wake_w):
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    # Append, as the exec backend does: the simulator reads this hook's output
    # from the size the file had when the hook began.
    out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(devnull)
    os.close(out)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    import jujusim_clock

    jujusim_clock.reset()
    path = req["path"]
    if req["mode"] == "exec":
        try:
            os.execve(path, [path], req["env"])
        except OSError as e:
            os.write(2, ("jujusim: cannot exec %s: %s\n" % (path, e)).encode())
            os._exit(126)
    sys.argv = [path]
    sys.path[0] = os.path.dirname(path)
    import jujusim_hookrt

    jujusim_hookrt.install_routing(tool_names, tools_dir)
    for package in deferred:
        package.hide()
    import runpy

    code = 0
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            sys.stderr.write("%s\n" % (e.code,))
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code & 0xFF)


def main():
    ctrl_fd = int(sys.argv[1])
    tools_dir = sys.argv[2]
    tool_names = sys.argv[3].split(",")
    deferred = preimport(sys.argv[4:])
    _live_extend_path("charms")
    import gc

    gc.collect()
    if hasattr(gc, "freeze"):
        # Keep the pre-imported objects out of the children's collections,
        # so forked hooks do not copy those pages by touching them.
        gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    children = set()

    def send(msg):
        data = (json.dumps(msg) + "\n").encode()
        while data:
            try:
                n = os.write(ctrl_fd, data)
            except BrokenPipeError:
                return  # the simulator has closed: nobody is listening any more
            data = data[n:]

    def reap():
        while children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            if os.WIFSIGNALED(status):
                rc = -os.WTERMSIG(status)
            else:
                rc = os.WEXITSTATUS(status)
            cpu = usage.ru_utime + usage.ru_stime
            send({"op": "exit", "pid": pid, "rc": rc, "cpu": cpu})

    send({"op": "ready"})
    buf = b""
    while True:
        try:
            readable, _, _ = select.select([ctrl_fd, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
        reap()
        if ctrl_fd in readable:
            chunk = os.read(ctrl_fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                if req["op"] == "quit":
                    return
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    try:
                        _run_child(req, ctrl_fd, wake_r, wake_w, tools_dir, tool_names, deferred)
                    finally:
                        os._exit(127)
                children.add(pid)
                send({"op": "spawned", "id": req["id"], "pid": pid})
        reap()


if __name__ == "__main__":
    main()
