"""aio/stream.py: remote syntax, listeners and connectors, mutual TLS, output backpressure."""

import asyncio
import socket
import ssl

import pytest

from pyvswitch.aio.stream import RemoteError, RemoteManager, parse_remote, ssl_contexts
from daemon_tls import make_pki


@pytest.mark.parametrize("text, kind, where", [
    ("punix:/var/run/db.sock", "punix", "/var/run/db.sock"),
    ("unix:db.sock", "unix", "db.sock"),
    ("ptcp:", "ptcp", ("0.0.0.0", 6640)),
    ("ptcp:0", "ptcp", ("0.0.0.0", 0)),
    ("ptcp:6641:127.0.0.1", "ptcp", ("127.0.0.1", 6641)),
    ("pssl:6640:[::1]", "pssl", ("::1", 6640)),
    ("tcp:10.0.0.1", "tcp", ("10.0.0.1", 6640)),
    ("tcp:10.0.0.1:6632", "tcp", ("10.0.0.1", 6632)),
    ("ssl:[fe80::1]:6632", "ssl", ("fe80::1", 6632)),
])
def test_parse_remote(text, kind, where):
    r = parse_remote(text)
    assert r.kind == kind and r.text == text
    assert (r.path if isinstance(where, str) else (r.host, r.port)) == where
    assert r.passive == kind.startswith("p")


@pytest.mark.parametrize("text, error", [
    ("ptcp:abc", 'abc: bad port number "abc"'),
    ("foo:bar", 'foo:bar: unknown stream type "foo"'),
    ("bogus", 'bogus: unknown stream type "bogus"'),
])
def test_parse_remote_errors(text, error):
    with pytest.raises(RemoteError) as e:
        parse_remote(text)
    assert str(e.value) == error


class Echo:
    def __init__(self):
        self.conns = []

    def connected(self, conn):
        self.conns.append(conn)

    def received(self, conn, data):
        conn.send(data)

    def disconnected(self, conn, reason):
        pass


async def _poll(condition, timeout=5.0):
    """Waits on the loop until condition() holds, for at most timeout seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    return condition()


async def _echo_once(reader, writer, payload=b"hello"):
    writer.write(payload)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(payload)), 5)


def test_mutual_tls(tmp_path):
    pki = make_pki(tmp_path)

    async def main():
        server_ctx, client_ctx = ssl_contexts(pki["server-key"], pki["server-cert"], pki["ca-cert"])
        mgr = RemoteManager(parse_remote("pssl:0:127.0.0.1"), Echo, ssl_server=lambda: server_ctx)
        mgr.start()
        await asyncio.wait_for(mgr.listening.wait(), 5)
        port = mgr.bound_port
        try:
            _, good = ssl_contexts(pki["client-key"], pki["client-cert"], pki["ca-cert"])
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=good, server_hostname="")
            assert await _echo_once(r, w) == b"hello"
            w.close()
            # No client certificate, or one from another CA: refused.
            bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            bare.check_hostname = False
            bare.load_verify_locations(pki["ca-cert"])
            _, rogue = ssl_contexts(pki["rogue-key"], pki["rogue-cert"], pki["ca-cert"])
            for ctx in (bare, rogue):
                with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
                    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="")
                    await _echo_once(r, w)
            # An active ssl: remote reaches the same listener.
            client_peer = Echo()
            out = RemoteManager(parse_remote(f"ssl:127.0.0.1:{port}"), lambda: client_peer,
                                ssl_client=lambda: good)
            out.start()
            await _poll(lambda: out.connection is not None)
            assert out.connection is not None and not out.connection.closed
            out.close()
        finally:
            mgr.close()

    asyncio.run(main())


def test_a_client_that_never_reads_is_dropped_and_others_are_served(tmp_path):
    path = str(tmp_path / "s.sock")

    class Flood(Echo):
        def received(self, conn, data):
            if data.startswith(b"flood"):
                # Unasked output (like monitor updates) for a client that never reads.
                for _ in range(64):
                    conn.send(b"x" * 65536)
                    if conn.closed:
                        break
            else:
                conn.send(data)

    async def main():
        peer = Flood()
        mgr = RemoteManager(parse_remote(f"punix:{path}"), lambda: peer, max_backlog=1 << 20)
        mgr.start()
        await asyncio.wait_for(mgr.listening.wait(), 5)
        try:
            lazy = socket.socket(socket.AF_UNIX)
            lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            lazy.connect(path)
            lazy.sendall(b"flood")
            r, w = await asyncio.open_unix_connection(path)
            await _poll(lambda: peer.conns and peer.conns[0].closed)
            assert peer.conns[0].closed
            assert await _echo_once(r, w) == b"hello"
            w.close()
            lazy.close()
        finally:
            mgr.close()

    asyncio.run(main())


def test_active_remote_reconnects(tmp_path):
    path = str(tmp_path / "late.sock")

    async def main():
        peer = Echo()
        out = RemoteManager(parse_remote(f"unix:{path}"), lambda: peer)
        out.start()
        await asyncio.sleep(0)  # the first attempt fails: nobody listens yet
        accepted = asyncio.Event()

        async def on_conn(reader, writer):
            accepted.set()
            writer.write(b"ping")
            await writer.drain()

        server = await asyncio.start_unix_server(on_conn, path)
        try:
            await asyncio.wait_for(accepted.wait(), 10)
            await _poll(lambda: out.connection is not None)
            assert out.connection is not None
        finally:
            out.close()
            server.close()

    asyncio.run(main())


def test_closing_a_remote_closes_its_connections(tmp_path):
    path = str(tmp_path / "r.sock")

    async def main():
        mgr = RemoteManager(parse_remote(f"punix:{path}"), Echo)
        mgr.start()
        await asyncio.wait_for(mgr.listening.wait(), 5)
        r, w = await asyncio.open_unix_connection(path)
        assert await _echo_once(r, w) == b"hello"
        mgr.close()
        assert await asyncio.wait_for(r.read(), 5) == b""
        w.close()

    asyncio.run(main())


def test_bind_unix_replaces_a_stale_file_and_listens_at_once(tmp_path):
    from pyvswitch.aio.stream import bind_unix
    path = tmp_path / "s.sock"
    path.write_text("stale")
    sock = bind_unix(str(path))
    try:
        c = socket.socket(socket.AF_UNIX)
        c.connect(str(path))
        c.close()
        assert [p.name for p in tmp_path.iterdir()] == ["s.sock"]
    finally:
        sock.close()
