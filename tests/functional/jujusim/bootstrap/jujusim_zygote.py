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
"""

import json
import os
import select
import signal
import sys
import traceback


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


def _run_child(req, ctrl_fd, wake_r, wake_w, tools_dir, tool_names):
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in (ctrl_fd, wake_r, wake_w):
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
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
    for name in sys.argv[4:]:
        try:
            __import__(name)
        except Exception:
            # A module the charm does not have is simply not pre-imported.
            pass
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
                        _run_child(req, ctrl_fd, wake_r, wake_w, tools_dir, tool_names)
                    finally:
                        os._exit(127)
                children.add(pid)
                send({"op": "spawned", "id": req["id"], "pid": pid})
        reap()


if __name__ == "__main__":
    main()
