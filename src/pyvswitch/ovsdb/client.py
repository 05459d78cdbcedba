"""A blocking JSON-RPC client for OVSDB command-line tools.

Command-line tools make one request after another and then, for monitors,
read notifications until killed; a plain socket and pyvswitch.ovsdb.jsonrpc
(its `Framer`, decoding numbers as OVS's parser types them, 2.0 being an
integer, so that what the tools print back matches the real ones) are all
they need.  No event loop is imported, and `ssl` only when an SSL remote is
used, so start-up stays fast.

Remotes are OVS's: active `unix:PATH` (relative to the run directory),
`tcp:IP[:PORT]`, `ssl:IP[:PORT]` (port 6640 by default; IPv6 addresses in
brackets) and, as the real tools accept, passive `punix:PATH`,
`ptcp:[PORT][:IP]` and `pssl:[PORT][:IP]`, which listen for one connection
and use it.  SSL needs a private key, a certificate and a CA certificate;
peers verify each other against the CA, as OVS's peers do.

While waiting, the client answers the server's "echo" requests and keeps any
notification for `next_notification`.  Failures are `ClientError`s whose
text is what ovsdb-client prints after its program name.
"""

from __future__ import annotations

import _socket
import errno
import posix   # not os: a tool's first import of os costs it ~1 ms (pyvswitch.dirs)
import time

TYPE_CHECKING = False   # typing, socket and dataclasses cost more to import than a whole ovs-vsctl call
if TYPE_CHECKING:
    from socket import socket
    from typing import Any, Callable

from pyvswitch import dirs, vlog
from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.ovs_json import DECODER as JSON_DECODER


DEFAULT_PORT = 6640


class ClientError(Exception):
    """A failure to report to the user; str() is OVS's wording."""


class RpcError(ClientError):
    """The server answered a request with an error; `.error` is its JSON."""

    def __init__(self, method: str, error: Any) -> None:
        super().__init__(f"{method} request failed: {jsonrpc.dumps(error)}")
        self.error = error


class ConnectionClosed(ClientError):
    """The peer closed the connection (or it broke); `.errno` says how."""

    def __init__(self, err: int = 0) -> None:
        self.errno = err
        super().__init__(posix.strerror(err) if err else "End of file")


class SslConfig:
    """The three files an SSL remote needs (immutable)."""

    __slots__ = ("private_key", "certificate", "ca_cert")

    def __init__(self, private_key: str | None = None, certificate: str | None = None,
                 ca_cert: str | None = None) -> None:
        object.__setattr__(self, "private_key", private_key)
        object.__setattr__(self, "certificate", certificate)
        object.__setattr__(self, "ca_cert", ca_cert)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def _key(self) -> tuple:
        return self.private_key, self.certificate, self.ca_cert

    def __eq__(self, other):
        return self._key() == other._key() if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"SslConfig(private_key={self.private_key!r}, certificate={self.certificate!r}, "
                f"ca_cert={self.ca_cert!r})")


def _strerror(e: OSError) -> str:
    return posix.strerror(e.errno) if e.errno else str(e)


_NO_AF = "Address family not supported by protocol"


def _log(module: str):
    from pyvswitch import vlog  # only the error paths log

    return vlog.module(module)


class _BadAddress(Exception):
    """A remote OVS cannot parse or resolve; it logs why, then gives up."""


def _port(text: str, where: str) -> int:
    if text.isdigit() and int(text) <= 65535:
        return int(text)
    _log("socket_util").err('%s: bad port number "%s"', where, text)
    raise _BadAddress


def _active_address(remote: str, kind: str, rest: str) -> tuple[str, int]:
    """(host, port) of tcp:HOST[:PORT] or ssl:HOST[:PORT]; IPv6 in brackets."""
    stream_log = "stream_ssl" if kind == "ssl" else "stream_tcp"
    try:
        if rest.startswith("["):
            host, _, tail = rest[1:].partition("]")
            if not tail.startswith(":"):
                _log("socket_util").err("%s: port must be specified", rest)
                raise _BadAddress
            port = _port(tail[1:], rest)
        else:
            host, _, port_s = rest.partition(":")
            if port_s:
                port = _port(port_s, rest)
            else:
                _log("stream").warn("The default OVSDB port number has changed from 6632 to 6640")
                port = DEFAULT_PORT
                remote = f"{remote}:{port}"
        if not host:
            raise _BadAddress
    except _BadAddress:
        _log(stream_log).err("%s: connect: %s", remote, _NO_AF)
        raise
    return host, port


def _passive_address(rest: str) -> tuple[str, int]:
    """(ip, port) of ptcp:[PORT][:IP] or pssl:[PORT][:IP]."""
    port_s, _, host = rest.partition(":")
    port = _port(port_s, rest) if port_s else DEFAULT_PORT
    return host.strip("[]") or "0.0.0.0", port


def is_passive(remote: str) -> bool:
    return remote.split(":", 1)[0] in ("punix", "ptcp", "pssl")


def open_socket(remote: str, ssl_config: SslConfig | None = None,
                on_listen: Callable[[], None] | None = None) -> socket:
    """Connects (or, for a passive remote, accepts one connection) to remote;
    on_listen is called once a passive remote listens.

    Raises ClientError worded as ovsdb-client words it."""
    kind, _, rest = remote.partition(":")
    passive = kind in ("punix", "ptcp", "pssl")
    if kind in ("unix", "punix"):
        # As in OVS, a relative socket name is relative to the run directory.
        rest = dirs.abs_file_name(dirs.rundir(), rest)
    verb = "listen to" if passive else "connect to"
    try:
        if kind == "unix":
            # The C module's socket does all a client needs; the socket
            # module would add milliseconds to every ovs-vsctl call.
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.connect(rest)
            except OSError:
                sock.close()
                raise
            return sock
        import socket
        if kind in ("tcp", "ssl"):
            host, port = _active_address(remote, kind, rest)
            if kind == "ssl":
                _check_ssl_config(ssl_config, remote, verb)
            try:
                sock = socket.create_connection((host, port))
            except socket.gaierror:
                _log("stream_ssl" if kind == "ssl" else "stream_tcp").err("%s: connect: %s", remote, _NO_AF)
                raise _BadAddress from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _wrap_ssl(sock, ssl_config, server_side=False) if kind == "ssl" else sock
        if kind == "punix":
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                posix.unlink(rest)
            except FileNotFoundError:
                pass
            listener.bind(rest)
            listener.listen(1)
            try:
                if on_listen:
                    on_listen()
                sock, _ = listener.accept()
            finally:
                listener.close()
                try:
                    posix.unlink(rest)
                except OSError:
                    pass
            return sock
        if kind in ("ptcp", "pssl"):
            host, port = _passive_address(rest)
            if kind == "pssl":
                _check_ssl_config(ssl_config, remote, verb)
            listener = socket.create_server((host, port))
            try:
                if on_listen:
                    on_listen()
                sock, _ = listener.accept()
            finally:
                listener.close()
            return _wrap_ssl(sock, ssl_config, server_side=True) if kind == "pssl" else sock
    except _BadAddress:
        pass
    except OSError as e:
        raise ClientError(f'failed to {verb} "{remote}" ({_strerror(e)})') from None
    raise ClientError(f'failed to connect or listen to "{remote}" ({_NO_AF})')


def _check_ssl_config(cfg: SslConfig | None, remote: str, verb: str) -> None:
    """OVS refuses an SSL remote without all three files, logging each missing one."""
    cfg = cfg or SslConfig()
    missing = [what for what, v in (("Private key", cfg.private_key), ("Certificate", cfg.certificate),
                                    ("CA certificate", cfg.ca_cert)) if not v]
    if missing:
        from pyvswitch import vlog

        log = vlog.module("stream_ssl")
        for what in missing:
            log.err("%s must be configured to use SSL", what)
        raise ClientError(f'failed to {verb} "{remote}" (Protocol not available)')


def _wrap_ssl(sock: socket, cfg: SslConfig | None, server_side: bool) -> socket:
    import ssl  # only ssl: remotes pay for it

    assert cfg is not None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_cert_chain(cfg.certificate, cfg.private_key)
        ctx.load_verify_locations(cfg.ca_cert)
        return ctx.wrap_socket(sock, server_side=server_side)
    except (ssl.SSLError, OSError) as e:
        sock.close()
        raise ClientError(f"SSL connection failed ({e})") from None


class Client:
    """One JSON-RPC session.  `call` blocks until the reply (or timeout)."""

    def __init__(self, sock: socket, name: str = "") -> None:
        self.sock = sock
        self.name = name
        self._stream = jsonrpc.Framer(decoder=JSON_DECODER)
        self._next_id = 0
        self._replies: dict[Any, jsonrpc.Message] = {}
        self._notifications: list[jsonrpc.Notification] = []

    @classmethod
    def open(cls, remote: str, ssl_config: SslConfig | None = None,
             on_listen: Callable[[], None] | None = None) -> "Client":
        return cls(open_socket(remote, ssl_config, on_listen), remote)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- sending ---

    def _log_msg(self, direction: str, msg: jsonrpc.Message) -> None:
        """Logs msg at debug level, worded and ordered as OVS's jsonrpc module logs."""
        if not _jsonrpc_log.is_enabled(vlog.Level.DBG):
            return
        if isinstance(msg, jsonrpc.Request):
            text = f'request, method="{msg.method}", params={_log_json(msg.params)}, id={_log_json(msg.id)}'
        elif isinstance(msg, jsonrpc.Notification):
            text = f'notification, method="{msg.method}", params={_log_json(msg.params)}'
        elif isinstance(msg, jsonrpc.Reply):
            text = f"reply, result={_log_json(msg.result)}, id={_log_json(msg.id)}"
        else:
            text = f"error, error={_log_json(msg.error)}, id={_log_json(msg.id)}"
        _jsonrpc_log.dbg("%s: %s %s", self.name, direction, text)

    def send(self, msg: jsonrpc.Message) -> None:
        self._log_msg("send", msg)
        try:
            self.sock.sendall(jsonrpc.encode(msg))
        except OSError as e:
            raise ConnectionClosed(e.errno or errno.EPIPE) from None

    def send_request(self, method: str, params: list) -> Any:
        """Sends a request and returns its id, without waiting for the reply."""
        ident = self._next_id
        self._next_id += 1
        self.send(jsonrpc.Request(method, params, ident))
        return ident

    # --- receiving ---

    def _receive(self, deadline: float | None) -> None:
        """Reads once from the socket and files what arrives."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
        else:
            self.sock.settimeout(None)
        try:
            data = self.sock.recv(1 << 20)
        except TimeoutError:
            raise TimeoutError from None
        except OSError as e:
            raise ConnectionClosed(e.errno or errno.ECONNRESET) from None
        if not data:
            raise ConnectionClosed()
        try:
            msgs = self._stream.feed(data)
        except jsonrpc.JsonRpcError:
            raise ConnectionClosed(errno.EPROTO) from None
        for msg in msgs:
            self._log_msg("received", msg)
            if isinstance(msg, jsonrpc.Request):
                if msg.method == "echo":
                    self.send(jsonrpc.Reply(msg.params, msg.id))
                else:
                    self.send(jsonrpc.ErrorReply("unknown method", msg.id))
            elif isinstance(msg, jsonrpc.Notification):
                self._notifications.append(msg)
            else:
                self._replies[_id_key(msg.id)] = msg

    def wait_reply(self, ident: Any, timeout: float | None = None) -> jsonrpc.Message:
        """Blocks until the reply to request ident arrives; returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        key = _id_key(ident)
        while key not in self._replies:
            self._receive(deadline)
        return self._replies.pop(key)

    def call(self, method: str, params: list, timeout: float | None = None) -> Any:
        """Sends a request and returns the result; raises RpcError on an error reply."""
        reply = self.wait_reply(self.send_request(method, params), timeout)
        if isinstance(reply, jsonrpc.ErrorReply):
            raise RpcError(method, reply.error)
        return reply.result

    def next_notification(self, timeout: float | None = None) -> jsonrpc.Notification:
        """Blocks until the server sends a notification (e.g. "update"); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._notifications:
            self._receive(deadline)
        return self._notifications.pop(0)

    def notifications(self):
        """Iterates over notifications forever (until the connection closes)."""
        while True:
            yield self.next_notification()


_jsonrpc_log = vlog.module("jsonrpc")


def _log_json(j: Any) -> str:
    """j as OVS logs it: compact, objects in its hash tables' order."""
    from pyvswitch.ovsdb.member_order import ovs_member_order
    from pyvswitch.ovsdb.table_format import json_to_string

    def order(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: order(v[k]) for k in ovs_member_order(v)}
        if isinstance(v, list):
            return [order(x) for x in v]
        return v
    return json_to_string(order(j))


def _id_key(ident: Any) -> str:
    # Ids come back as the JSON we sent; key them by text so 1 and 1.0 agree.
    return jsonrpc.dumps(ident)
