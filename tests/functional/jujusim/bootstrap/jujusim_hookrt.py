"""Hook-side runtime of the jujusim fork backend.

Imported by the zygote only (never by a charm). It provides:

* the client side of the hook-tool wire protocol (the same bytes the shim
  executables send), and
* `install_routing()`, which replaces `subprocess.Popen` in a forked hook
  process so that a call whose argv[0] names a hook tool is sent over the
  simulator socket instead of spawning the shim. Everything else (shell=True,
  other programs, os.system) still spawns real processes, and those find the
  real shim executables on PATH, so behaviour is the same as in the exec
  backend, only faster.
"""

import io
import os
import socket
import struct
import subprocess

MAGIC = b"JSM1"


def encode_request(context_id, cwd, stdin, argv):
    fields = [context_id.encode(), os.fsencode(cwd), stdin] + [os.fsencode(a) for a in argv]
    parts = [MAGIC, struct.pack(">I", len(fields))]
    for f in fields:
        parts.append(struct.pack(">I", len(f)))
        parts.append(f)
    return b"".join(parts)


def _read_exact(f, n):
    data = f.read(n)
    if len(data) != n:
        raise OSError("lost the simulator")
    return data


def call_tool(sock_path, context_id, cwd, stdin, argv):
    """Send one tool call; return (rc, stdout bytes, stderr bytes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock_path)
        s.sendall(encode_request(context_id, cwd, stdin, argv))
        f = s.makefile("rb")
        rc, n = struct.unpack(">iI", _read_exact(f, 8))
        out = _read_exact(f, n)
        (m,) = struct.unpack(">I", _read_exact(f, 4))
        err = _read_exact(f, m)
        f.close()
    finally:
        s.close()
    return rc, out, err


def _wants_stdin(args):
    return "--file=-" in args or any(
        a == "--file" and i + 1 < len(args) and args[i + 1] == "-" for i, a in enumerate(args)
    )


_RealPopen = subprocess.Popen


def _write_to(target, data):
    """Deliver output the way a child process inheriting `target` would."""
    if not data or target == subprocess.DEVNULL:
        return
    if target is None:
        fd = 1
    elif isinstance(target, int):
        fd = target
    else:
        target.flush()
        fd = target.fileno()
    while data:
        n = os.write(fd, data)
        data = data[n:]


class RoutedToolProcess(_RealPopen):
    """A `subprocess.Popen` look-alike for one hook-tool call served in-process.

    It never forks: the call runs when the caller first waits for the process
    (communicate/wait/poll), with stdin taken from `communicate(input)` or the
    `stdin=` argument, and output delivered to PIPE, a file, a descriptor,
    DEVNULL or the inherited stdout/stderr, like a real child would.
    """

    def __init__(
        self,
        args,
        bufsize=-1,
        executable=None,
        stdin=None,
        stdout=None,
        stderr=None,
        preexec_fn=None,
        close_fds=True,
        shell=False,
        cwd=None,
        env=None,
        universal_newlines=None,
        startupinfo=None,
        creationflags=0,
        restore_signals=True,
        start_new_session=False,
        pass_fds=(),
        *,
        encoding=None,
        errors=None,
        text=None,
        **kwargs,
    ):
        # Deliberately no super().__init__(): nothing is spawned.
        self._child_created = False
        self.args = args
        self.pid = None
        self.returncode = None
        self._routed_env = os.environ if env is None else env
        self._routed_cwd = os.getcwd() if cwd is None else os.fspath(cwd)
        self._stdin_arg, self._stdout_arg, self._stderr_arg = stdin, stdout, stderr
        self.text_mode = bool(encoding or errors or text or universal_newlines)
        self.encoding, self.errors = encoding, errors
        self.stdin = io.BytesIO() if stdin == subprocess.PIPE else None
        self.stdout = None
        self.stderr = None
        self._routed_result = None
        self._routed_stdin = None

    # -- running the call -------------------------------------------------
    def _routed_run(self, input=None):
        if self._routed_result is not None:
            return self._routed_result
        argv = [
            os.path.basename(a) if i == 0 else a
            for i, a in enumerate(os.fspath(x) for x in self.args)
        ]
        data = b""
        if _wants_stdin(argv[1:]):
            if input is not None:
                data = input.encode(self.encoding or "utf-8") if isinstance(input, str) else input
            elif self.stdin is not None:
                data = self.stdin.getvalue()
            elif isinstance(self._stdin_arg, int) and self._stdin_arg >= 0:
                data = _read_fd(self._stdin_arg)
            elif self._stdin_arg not in (None, subprocess.DEVNULL):
                data = self._stdin_arg.read()
                data = data.encode() if isinstance(data, str) else data
            else:
                data = _read_fd(0)
        env = self._routed_env
        rc, out, err = call_tool(
            env.get("JUJU_AGENT_SOCKET_ADDRESS", ""),
            env.get("JUJU_CONTEXT_ID", ""),
            self._routed_cwd,
            data,
            argv,
        )
        if self._stderr_arg == subprocess.STDOUT:
            out, err = out + err, b""
        self.returncode = rc
        self._routed_result = (out, err)
        if self._stdout_arg == subprocess.PIPE:
            self.stdout = self._wrap(out)
        else:
            _write_to(self._stdout_arg, out)
        if self._stderr_arg == subprocess.PIPE:
            self.stderr = self._wrap(err)
        elif self._stderr_arg != subprocess.STDOUT:
            _write_to(2 if self._stderr_arg is None else self._stderr_arg, err)
        return self._routed_result

    def _wrap(self, data):
        stream = io.BytesIO(data)
        if self.text_mode:
            return io.TextIOWrapper(
                stream, encoding=self.encoding or "utf-8", errors=self.errors or "strict"
            )
        return stream

    # -- the Popen surface ---------------------------------------------------
    def communicate(self, input=None, timeout=None):
        self._routed_run(input)
        out = self.stdout.read() if self.stdout is not None else None
        err = self.stderr.read() if self.stderr is not None else None
        return out, err

    def wait(self, timeout=None):
        self._routed_run()
        return self.returncode

    def poll(self):
        self._routed_run()
        return self.returncode

    def send_signal(self, sig):
        pass

    def terminate(self):
        pass

    def kill(self):
        pass

    def __exit__(self, exc_type, value, traceback):
        for stream in (self.stdout, self.stderr, self.stdin):
            if stream is not None:
                stream.close()
        self.wait()

    def __del__(self):
        pass


def _read_fd(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def install_routing(tool_names, tools_dir):
    """Route hook-tool invocations in this process over the simulator socket."""
    names = frozenset(tool_names)

    def routed(args, *a, **kw):
        if kw.get("shell") or kw.get("executable") or isinstance(args, (str, bytes)):
            return None
        try:
            first = os.fspath(args[0])
        except (TypeError, IndexError):
            return None
        if "/" in first:
            if os.path.dirname(first) != tools_dir:
                return None
            first = os.path.basename(first)
        elif not _first_on_path(first, kw.get("env"), tools_dir):
            return None
        return first if first in names else None

    class Popen(_RealPopen):
        def __new__(cls, args, *a, **kw):
            if routed(args, *a, **kw):
                return RoutedToolProcess(args, *a, **kw)
            return super().__new__(cls)

    subprocess.Popen = Popen


def _first_on_path(name, env, tools_dir):
    """True if PATH lookup of `name` would find the shim in tools_dir."""
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    for d in path.split(os.pathsep):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return d == tools_dir
    return False
