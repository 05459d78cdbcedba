"""Streams for OVS protocols over asyncio: remotes, listeners, connectors, TLS.

A *remote* is OVS's connection string.  Passive ones listen:
`punix:PATH`, `ptcp:[PORT][:IP]`, `pssl:[PORT][:IP]`; active ones connect
out: `unix:PATH`, `tcp:IP[:PORT]`, `ssl:IP[:PORT]` (IPv6 addresses in
brackets, default port 6640).  `RemoteManager` keeps one remote alive: it
listens or connects, and after a failure (or, for an active remote, a lost
connection) retries after 1, 2, 4, then 8 seconds, logging as OVS's
`reconnect` module does.

Every accepted or established connection becomes a `Connection`, which
hands received bytes to its `Peer` (the protocol shell above) and writes
what the peer sends.  Output backpressure: while the kernel will not take
more bytes from a connection, we stop reading from it, so a client that does
not read cannot make us produce replies for it; output the server pushes
unasked (monitor updates) still queues, and a connection whose queue passes
`max_backlog` bytes is dropped.  Other connections are never stalled.
Closing a remote closes the connections it accepted or made.

TLS: `ssl_contexts(private_key, certificate, ca_cert)` builds server and
client contexts for mutual authentication (peers must present a
certificate signed by the CA; host names are not checked, as in OVS).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Callable, Protocol

from pyvswitch import vlog

log = vlog.module("stream")
log_reconnect = vlog.module("reconnect")
log_socket = vlog.module("socket_util")

DEFAULT_PORT = 6640
DEFAULT_MAX_BACKLOG = 64 * 1024 * 1024
CLOSE_LINGER = 10.0
_BACKOFFS = (1.0, 2.0, 4.0, 8.0)


class RemoteError(ValueError):
    """A remote string that cannot be used; the message is OVS's wording."""


@dataclass(frozen=True, slots=True)
class Remote:
    text: str
    kind: str                # punix ptcp pssl unix tcp ssl
    path: str | None = None  # unix kinds
    host: str | None = None  # inet kinds
    port: int | None = None

    @property
    def passive(self) -> bool:
        return self.kind.startswith("p")

    @property
    def uses_ssl(self) -> bool:
        return self.kind in ("ssl", "pssl")


def _parse_port(text: str, default: int) -> int:
    if not text:
        return default
    try:
        port = int(text)
    except ValueError:
        raise RemoteError(f'{text}: bad port number "{text}"') from None
    if not 0 <= port <= 65535:
        raise RemoteError(f'{text}: bad port number "{text}"')
    return port


def _split_host_port(text: str) -> tuple[str, str]:
    """'IP:PORT', '[IPv6]:PORT' -> (ip, port text)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RemoteError(f"{text}: bad IPv6 address")
        host, rest = text[1:end], text[end + 1:]
        return host, rest[1:] if rest.startswith(":") else rest
    host, _, port = text.partition(":")
    return host, port


def _check_ip(host: str, text: str) -> None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise RemoteError(f'{text}: bad IP address "{host}"') from None


def parse_remote(text: str) -> Remote:
    """Parses one remote; raises RemoteError."""
    kind, colon, rest = text.partition(":")
    if not colon:
        raise RemoteError(f'{text}: unknown stream type "{text}"')
    if kind in ("punix", "unix"):
        if not rest:
            raise RemoteError(f"{text}: missing socket path")
        return Remote(text, kind, path=rest)
    if kind in ("ptcp", "pssl"):
        port_text, _, host = rest.partition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        host = host or "0.0.0.0"
        _check_ip(host, rest)
        return Remote(text, kind, host=host, port=_parse_port(port_text, DEFAULT_PORT))
    if kind in ("tcp", "ssl"):
        host, port_text = _split_host_port(rest)
        if not host:
            raise RemoteError(f"{rest}: host must be specified")
        return Remote(text, kind, host=host, port=_parse_port(port_text, DEFAULT_PORT))
    raise RemoteError(f'{text}: unknown stream type "{kind}"')


def ssl_contexts(private_key: str, certificate: str, ca_cert: str
                 ) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) for mutual TLS; raises OSError/ssl.SSLError."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    for ctx in (server, client):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(certificate, private_key)
        ctx.load_verify_locations(ca_cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return server, client


def bind_unix(path: str, backlog: int = 128) -> socket.socket:
    """A listening Unix socket at path, replacing any file there.

    The socket is bound under a temporary name, put to listening, then
    renamed into place: whoever sees the path can connect to it at once,
    with no window in which the file exists but refuses connections."""
    tmp = f"{path}.{os.getpid()}.tmp"
    if len(os.fsencode(tmp)) >= 108:
        tmp = path          # no room for a temporary name (sun_path is 108 bytes)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        sock.bind(tmp)
        sock.listen(backlog)
        if tmp != path:
            os.rename(tmp, path)
    except BaseException:
        sock.close()
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    sock.setblocking(False)
    return sock


class Peer(Protocol):
    """What a protocol shell offers to the connections it serves."""

    def connected(self, conn: "Connection") -> None: ...
    def received(self, conn: "Connection", data: bytes) -> None: ...
    def disconnected(self, conn: "Connection", reason: str) -> None: ...


class Connection(asyncio.Protocol):
    """One stream connection, server or client side."""

    _unix_seq = 0

    def __init__(self, peer: Peer, kind: str, max_backlog: int = DEFAULT_MAX_BACKLOG,
                 owner: "RemoteManager | None" = None) -> None:
        self.peer = peer
        self.owner = owner
        self.kind = kind
        self.max_backlog = max_backlog
        self.name = kind
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.context: object = None   # whatever the peer wants to hang here
        self._close_reason = "connection closed by peer"
        self.done: asyncio.Future | None = None   # resolves when the connection is gone

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.done = asyncio.get_running_loop().create_future()
        if self.kind in ("unix", "punix"):
            Connection._unix_seq += 1
            self.name = f"unix#{Connection._unix_seq}"
        else:
            addr = transport.get_extra_info("peername")
            scheme = "ssl" if self.kind in ("ssl", "pssl") else "tcp"
            if isinstance(addr, tuple) and len(addr) >= 2:
                host = f"[{addr[0]}]" if ":" in str(addr[0]) else addr[0]
                self.name = f"{scheme}:{host}:{addr[1]}"
        self.peer.connected(self)

    def data_received(self, data: bytes) -> None:
        if not self.closed:
            self.peer.received(self, data)

    def eof_received(self):
        return False

    def connection_lost(self, exc) -> None:
        if exc is not None and self._close_reason == "connection closed by peer":
            self._close_reason = os.strerror(exc.errno) if getattr(exc, "errno", None) else str(exc)
        was_closed = self.closed
        self.closed = True
        if self.owner is not None:
            self.owner.connections.discard(self)
        if self.done is not None and not self.done.done():
            self.done.set_result(None)
        self.peer.disconnected(self, self._close_reason if not was_closed else "closed")

    def pause_writing(self) -> None:
        # The client is not reading: stop reading its requests too.
        if self.transport is not None and not self.closed:
            try:
                self.transport.pause_reading()
            except (RuntimeError, AttributeError):
                pass

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closed:
            try:
                self.transport.resume_reading()
            except (RuntimeError, AttributeError):
                pass

    @property
    def backlog(self) -> int:
        t = self.transport
        return t.get_write_buffer_size() if t is not None else 0

    def send(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            return
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > self.max_backlog:
            log.warn("%s: dropping connection: %d bytes of output queued and not read",
                     self.name, self.transport.get_write_buffer_size())
            self.abort("output backlog exceeded")

    def close(self, reason: str = "closed") -> None:
        """Closes after flushing what was sent (for at most CLOSE_LINGER seconds:
        a peer that never reads must not keep the connection forever)."""
        if not self.closed:
            self.closed = True
            self._close_reason = reason
            if self.transport is not None:
                self.transport.close()
                if self.transport.get_write_buffer_size():
                    asyncio.get_running_loop().call_later(CLOSE_LINGER, self.transport.abort)

    def abort(self, reason: str) -> None:
        """Drops the connection at once, discarding unsent output."""
        self._close_reason = reason
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


def _errno_text(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)
    if isinstance(e, ssl.SSLError):
        return str(e)
    return str(e) or type(e).__name__


class RemoteManager:
    """Keeps one remote listening or connected, retrying with backoff."""

    def __init__(self, remote: Remote, peer_factory: Callable[[], Peer], *,
                 ssl_server: Callable[[], ssl.SSLContext | None] | None = None,
                 ssl_client: Callable[[], ssl.SSLContext | None] | None = None,
                 max_backlog: int = DEFAULT_MAX_BACKLOG) -> None:
        self.remote = remote
        self.peer_factory = peer_factory
        self.ssl_server = ssl_server
        self.ssl_client = ssl_client
        self.max_backlog = max_backlog
        self.server: asyncio.base_events.Server | None = None
        self.connection: Connection | None = None
        self.bound_port: int | None = None
        self.listening = asyncio.Event()   # set once listening
        self.tried = asyncio.Event()       # set after the first attempt, whatever its outcome
        self._task: asyncio.Task | None = None
        self._stopped = False
        self.connections: set[Connection] = set()   # every live connection of this remote

    def _new_connection(self) -> Connection:
        conn = Connection(self.peer_factory(), self.remote.kind, self.max_backlog, owner=self)
        self.connections.add(conn)
        return conn

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def listen_once(self) -> None:
        """Tries to listen now; raises OSError/RemoteError (used at start-up)."""
        await self._listen()

    async def _listen(self) -> None:
        r = self.remote
        loop = asyncio.get_running_loop()
        ctx = self.ssl_server() if (r.uses_ssl and self.ssl_server) else None
        if r.uses_ssl and ctx is None:
            raise OSError(errno.EPROTO, "Protocol error: SSL/TLS is not configured "
                                        "(use --private-key, --certificate, --ca-cert)")

        factory = self._new_connection

        if r.kind == "punix":
            self.server = await loop.create_unix_server(factory, sock=bind_unix(r.path), ssl=ctx)
        else:
            family = socket.AF_INET6 if ":" in r.host else socket.AF_INET
            self.server = await loop.create_server(
                factory, r.host, r.port, family=family, ssl=ctx, reuse_address=True,
                backlog=128)
            self.bound_port = self.server.sockets[0].getsockname()[1]
            if r.port == 0:
                log_socket.info("%s: listening on port %d", r.text.split(":", 1)[1],
                                self.bound_port)
        self.listening.set()

    async def _connect(self) -> Connection:
        r = self.remote
        loop = asyncio.get_running_loop()
        ctx = self.ssl_client() if (r.uses_ssl and self.ssl_client) else None
        if r.uses_ssl and ctx is None:
            raise OSError(errno.EPROTO, "Protocol error: SSL/TLS is not configured")

        factory = self._new_connection

        if r.kind == "unix":
            _, conn = await loop.create_unix_connection(factory, r.path, ssl=ctx)
        else:
            _, conn = await loop.create_connection(factory, r.host, r.port, ssl=ctx,
                                                   server_hostname="" if ctx else None)
        return conn

    async def _run(self) -> None:
        attempt = 0
        name = self.remote.text
        while not self._stopped:
            try:
                if self.remote.passive:
                    if self.server is None:
                        if attempt:
                            log_reconnect.info("%s: listening...", name)
                        await self._listen()
                    attempt = 0
                    self.tried.set()
                    await asyncio.Future()  # listening until cancelled
                log_reconnect.info("%s: connecting...", name)
                conn = await asyncio.wait_for(self._connect(), timeout=10)
                log_reconnect.info("%s: connected", name)
                self.connection = conn
                attempt = 0
                self.tried.set()
                await conn.done
                log_reconnect.info("%s: connection dropped (%s)", name, conn._close_reason)
                self.connection = None
            except asyncio.CancelledError:
                raise
            except (OSError, RemoteError, asyncio.TimeoutError, ssl.SSLError) as e:
                what = "listen" if self.remote.passive else "connection"
                log_reconnect.info("%s: %s attempt failed (%s)", name, what, _errno_text(e))
            finally:
                self.tried.set()
            delay = _BACKOFFS[min(attempt, len(_BACKOFFS) - 1)]
            if attempt:
                again = ("before trying to listen again" if self.remote.passive
                         else "before reconnect")
                log_reconnect.info("%s: waiting %d seconds %s", name, int(delay), again)
            attempt += 1
            await asyncio.sleep(delay)

    def close(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
        if self.server is not None:
            self.server.close()
            if self.remote.kind == "punix":
                try:
                    os.unlink(self.remote.path)
                except OSError:
                    pass
            self.server = None
        # A remote's sessions go with it, as in OVS.
        for conn in list(self.connections):
            conn.close("remote removed")
        self.connections.clear()
