"""Execution backends: how a hook process is started and how its end is seen.

Both backends start exactly one process per hook with the same environment,
cwd, argv and stdio, and both reach the same tool implementations over the
same socket protocol, so a seed gives the same traces on either.

* `ExecBackend` (reference): ``subprocess.Popen([hooks/<name>])``; the hook's
  own shebang picks the interpreter (``python3`` on PATH is the simulation's
  Python); tools are the shim executables on PATH.
* `ForkBackend` (fast): a warm zygote (bootstrap/jujusim_zygote.py) that has
  imported charms.reactive, charmhelpers and yaml forks one child per hook;
  the child runs the hook file with runpy as ``__main__`` (execve for a hook
  that is not Python) and sends hook-tool subprocess calls straight over the
  socket.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
from typing import List, Optional, Tuple

from .model import HookProcessError

BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap")

DEFAULT_PREIMPORTS = (
    "yaml",
    "charmhelpers",
    "charmhelpers.core.hookenv",
    "charmhelpers.core.unitdata",
    "charmhelpers.core.host",
    "charmhelpers.coordinator",
    "charms.reactive",
    "jujusim_hookrt",
)


class HookProcess(object):
    """A running hook process as the simulator sees it."""

    def __init__(self, pid: int, popen=None):
        self.pid = pid
        self.popen = popen
        self.rc: Optional[int] = None
        self.pidfd: Optional[int] = None
        # CPU seconds (user + system) of the hook process and the children it
        # waited for (the tool shims under exec), from wait4(); None if unknown.
        self.cpu: Optional[float] = None


def is_python_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


class ExecBackend(object):
    name = "exec"

    def __init__(self, python: str, tool_names, tools_dir: str):
        self.python = python
        self._running: List[HookProcess] = []

    def start(self):
        pass

    def spawn(self, path: str, env: dict, cwd: str, out_path: str) -> HookProcess:
        out = open(out_path, "ab")
        try:
            popen = subprocess.Popen(
                [path],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        except OSError as e:
            out.write(("jujusim: cannot execute %s: %s\n" % (path, e)).encode())
            out.close()
            proc = HookProcess(-1)
            proc.rc = 126 if isinstance(e, PermissionError) else 127
            self._running.append(proc)
            return proc
        out.close()
        proc = HookProcess(popen.pid, popen)
        if hasattr(os, "pidfd_open"):
            try:
                proc.pidfd = os.pidfd_open(popen.pid)
            except OSError:
                proc.pidfd = None
        self._running.append(proc)
        return proc

    def wait_fds(self) -> Tuple[List[int], Optional[float]]:
        fds = [p.pidfd for p in self._running if p.pidfd is not None]
        polling = any(p.pidfd is None for p in self._running)
        return fds, (0.002 if polling else None)

    def collect_exits(self) -> List[Tuple[HookProcess, int]]:
        done = []
        for proc in list(self._running):
            rc = proc.rc if proc.popen is None else self._poll(proc)
            if rc is not None:
                proc.rc = rc
                self._running.remove(proc)
                if proc.pidfd is not None:
                    os.close(proc.pidfd)
                    proc.pidfd = None
                done.append((proc, rc))
        return done

    @staticmethod
    def _poll(proc: HookProcess) -> Optional[int]:
        """Reap the process if it has exited (with wait4, for its CPU time)."""
        popen = proc.popen
        if popen.returncode is not None:
            return popen.returncode
        try:
            pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
        except ChildProcessError:
            return popen.poll()
        if pid == 0:
            return None
        proc.cpu = usage.ru_utime + usage.ru_stime
        if os.WIFSIGNALED(status):
            popen.returncode = -os.WTERMSIG(status)
        else:
            popen.returncode = os.WEXITSTATUS(status)
        return popen.returncode

    def kill(self, proc: HookProcess):
        if proc.popen is not None and proc.popen.poll() is None:
            proc.popen.kill()

    def close(self):
        for proc in list(self._running):
            self.kill(proc)
            if proc.popen is not None:
                proc.popen.wait()
            if proc.pidfd is not None:
                os.close(proc.pidfd)
        self._running = []


class ForkBackend(object):
    name = "fork"

    def __init__(
        self,
        python: str,
        tool_names,
        tools_dir: str,
        preimports=DEFAULT_PREIMPORTS,
        startup_timeout: float = 60.0,
    ):
        self.python = python
        self.tool_names = sorted(tool_names)
        self.tools_dir = tools_dir
        self.preimports = list(preimports)
        self.startup_timeout = startup_timeout
        self._zygote = None
        self._sock = None
        self._buf = b""
        self._by_pid = {}
        self._exits: List[Tuple[int, int, Optional[float]]] = []
        self._next_id = 0

    def start(self):
        parent, child = socket.socketpair()
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONPATH": BOOTSTRAP_DIR,
        }
        self._zygote = subprocess.Popen(
            [
                self.python,
                os.path.join(BOOTSTRAP_DIR, "jujusim_zygote.py"),
                str(child.fileno()),
                self.tools_dir,
                ",".join(self.tool_names),
            ]
            + self.preimports,
            pass_fds=[child.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
            close_fds=True,
            cwd="/",
        )
        child.close()
        self._sock = parent
        msg = self._read_message(self.startup_timeout)
        if msg is None or msg.get("op") != "ready":
            raise HookProcessError("the fork backend zygote did not start (got %r)" % (msg,))

    def _read_message(self, timeout: Optional[float]):
        while b"\n" not in self._buf:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            if not ready:
                return None
            chunk = self._sock.recv(65536)
            if not chunk:
                raise HookProcessError("the fork backend zygote died")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def _pump(self, timeout: Optional[float]):
        """Read one message; file exit notices; return the message (or None)."""
        msg = self._read_message(timeout)
        if msg is not None and msg.get("op") == "exit":
            self._exits.append((msg["pid"], msg["rc"], msg.get("cpu")))
        return msg

    def spawn(self, path: str, env: dict, cwd: str, out_path: str) -> HookProcess:
        self._next_id += 1
        req = {
            "op": "spawn",
            "id": self._next_id,
            "path": path,
            "env": env,
            "cwd": cwd,
            "out": out_path,
            "mode": "runpy" if is_python_script(path) else "exec",
        }
        self._sock.sendall((json.dumps(req) + "\n").encode())
        while True:
            msg = self._pump(self.startup_timeout)
            if msg is None:
                raise HookProcessError("the fork backend zygote did not answer a spawn")
            if msg.get("op") == "spawned" and msg.get("id") == self._next_id:
                proc = HookProcess(msg["pid"])
                self._by_pid[proc.pid] = proc
                return proc

    def wait_fds(self) -> Tuple[List[int], Optional[float]]:
        return [self._sock.fileno()], (0.0 if self._exits or b"\n" in self._buf else None)

    def collect_exits(self) -> List[Tuple[HookProcess, int]]:
        while b"\n" in self._buf or select.select([self._sock], [], [], 0)[0]:
            if self._pump(0) is None:
                break
        done = []
        for pid, rc, cpu in self._exits:
            proc = self._by_pid.pop(pid, None)
            if proc is not None:
                proc.rc = rc
                proc.cpu = cpu
                done.append((proc, rc))
        self._exits = []
        return done

    def kill(self, proc: HookProcess):
        if proc.rc is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self):
        for proc in list(self._by_pid.values()):
            self.kill(proc)
        if self._sock is not None:
            try:
                self._sock.sendall(b'{"op": "quit"}\n')
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self._zygote is not None:
            try:
                self._zygote.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._zygote.kill()
                self._zygote.wait()
            self._zygote = None


BACKENDS = {"exec": ExecBackend, "fork": ForkBackend}


def default_python() -> str:
    return sys.executable
