"""A blocking unixctl client: one request, one reply (what ovs-appctl needs).

`UnixctlClient(path)` connects to a daemon's control socket; `transact(cmd,
args)` returns `(ok, text)`: the command's output, or the daemon's error
text.  Transport trouble raises `OSError` (connection refused, end of file,
`TimeoutError` after `settimeout`); a reply that is not a unixctl reply
raises `UnixctlProtocolError`.

ovs-appctl and ovs-dpctl start for one request, so most of a call is Python
starting up: this module and what it imports stay off the costly modules
(`socket`, whose constants become enums, `os`, `struct`, `typing`), using
the C modules under them (`_socket`, `posix`, `_struct`, `fcntl`) instead.
tests/appctl/test_startup.py keeps it so.
"""

from __future__ import annotations

import _socket
import _struct
import errno
import fcntl
import posix

from pyvswitch.ovsdb import jsonrpc


class UnixctlProtocolError(Exception):
    """The daemon answered with something that is not a unixctl reply."""


class UnixctlClient:
    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def transact(self, command: str, args: list[str], ident: int = 0) -> tuple[bool, str]:
        request = {"id": ident, "method": command, "params": list(args)}
        self.sock.sendall(jsonrpc.dumps(request).encode())
        framer = jsonrpc.Framer()
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                raise OSError(errno.EPIPE, "End of file")
            try:
                objs = framer.feed_json(data)
            except jsonrpc.JsonRpcError:
                raise OSError(errno.EPROTO, "End of file") from None
            for obj in objs:
                if not isinstance(obj, dict) or obj.get("id") != ident:
                    continue
                error = obj.get("error")
                if error is not None:
                    if not isinstance(error, str):
                        raise UnixctlProtocolError(
                            f"unexpected error type in JSON RPC reply: {_json_type(error)}")
                    return False, error
                result = obj.get("result")
                if not isinstance(result, str):
                    raise UnixctlProtocolError(
                        f"unexpected result type in JSON rpc reply: {_json_type(result)}")
                return True, result


def _json_type(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def read_pidfile(path: str) -> int:
    """The pid in an OVS pidfile; raises OSError (ENOENT, ...) or ValueError."""
    with open(path) as f:
        text = f.readline()
    pid = int(text.strip())
    if pid <= 0:
        raise ValueError(path)
    return pid


# struct flock on Linux (l_type, l_whence, l_start, l_len, l_pid), native layout.
_FLOCK = "hhqqi"


def pidfile_owner(path: str) -> int | None:
    """The pid holding the lock on pidfile path (a running daemon holds a
    write lock on its pidfile), or None if nobody does."""
    try:
        fd = posix.open(path, posix.O_RDWR)
    except OSError:
        return None
    try:
        lock = _struct.pack(_FLOCK, fcntl.F_WRLCK, 0, 0, 0, 0)   # whence 0: SEEK_SET
        l_type, _, _, _, pid = _struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, lock))
        return None if l_type == fcntl.F_UNLCK else pid
    except OSError:
        return None
    finally:
        posix.close(fd)


def target_socket(target: str, rundir: str) -> str:
    """Where TARGET's control socket is: an absolute path is the socket;
    otherwise RUNDIR/TARGET.pid names the pid of RUNDIR/TARGET.PID.ctl."""
    if target.startswith("/"):
        return target
    rundir = rundir if not rundir or rundir.endswith("/") else rundir + "/"
    pid = read_pidfile(f"{rundir}{target}.pid")
    return f"{rundir}{target}.{pid}.ctl"
