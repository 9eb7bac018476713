# jujusim hook-tool shim (Python fallback used when no C compiler is available).
# Same wire format as shim.c; only socket, struct, os and sys are imported so
# that `python -SI` starts it quickly (one shebang argument).
import os
import socket
import struct
import sys


def main():
    sock_path = os.environ.get("JUJU_AGENT_SOCKET_ADDRESS")
    ctx = os.environ.get("JUJU_CONTEXT_ID")
    if not sock_path or not ctx:
        sys.stderr.write("ERROR JUJU_CONTEXT_ID or JUJU_AGENT_SOCKET_ADDRESS not set\n")
        return 1
    args = sys.argv[1:]
    want_stdin = "--file=-" in args or any(
        a == "--file" and i + 1 < len(args) and args[i + 1] == "-" for i, a in enumerate(args)
    )
    data = sys.stdin.buffer.read() if want_stdin else b""
    fields = [ctx.encode(), os.getcwd().encode(), data, os.path.basename(sys.argv[0]).encode()] + [
        os.fsencode(a) for a in args
    ]
    req = [b"JSM1", struct.pack(">I", len(fields))]
    for f in fields:
        req.append(struct.pack(">I", len(f)))
        req.append(f)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock_path)
    except OSError:
        sys.stderr.write("ERROR cannot connect to the simulator at %s\n" % sock_path)
        return 1
    s.sendall(b"".join(req))
    f = s.makefile("rb")
    rc, n = struct.unpack(">iI", f.read(8))
    out = f.read(n)
    (m,) = struct.unpack(">I", f.read(4))
    err = f.read(m)
    s.close()
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.buffer.flush()
    return rc


if __name__ == "__main__":
    sys.exit(main())
