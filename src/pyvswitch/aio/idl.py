"""The OVSDB IDL on asyncio: keeps an `Idl` (ovsdb/idl.py) connected to its server.

`IdlConnection(idl, remote)` connects to an active remote (`unix:`, `tcp:`,
`ssl:`) through `RemoteManager`, which reconnects after 1, 2, 4, then 8
seconds when the server goes away or restarts.  Received bytes go through a
`jsonrpc.Framer` into the IDL; what the IDL answers (echo replies, monitor
requests) is sent back.  Every time the replica changes, `on_change()` runs;
`changed` is an `asyncio.Event` set at the same moments for code that waits.
`commit(txn)` sends a transaction and returns a future of its `TxnResult`
(TRY_AGAIN if the connection drops before the reply).

Inactivity probes: for tcp:/ssl: remotes an "echo" request is sent after
`probe_interval` seconds of silence, and the connection is dropped (and so
re-established) if the next interval also passes in silence; unix: sockets
are not probed, as in OVS.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

from pyvswitch import vlog
from pyvswitch.aio.stream import Connection, RemoteManager, parse_remote
from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.idl import Idl, State, Transaction, TxnResult, TxnStatus

log = vlog.module("ovsdb_idl")

PROBE_INTERVAL = 5.0


class _IdlPeer:
    def __init__(self, owner: "IdlConnection") -> None:
        self.owner = owner
        self.framer = jsonrpc.Framer()

    def connected(self, conn: Connection) -> None:
        self.owner._connected(conn)

    def received(self, conn: Connection, data: bytes) -> None:
        try:
            msgs = self.framer.feed(data)
        except jsonrpc.JsonRpcError as e:
            log.warn("%s: received bad JSON-RPC (%s), disconnecting", conn.name, e)
            conn.abort("protocol error")
            return
        try:
            self.owner._received(conn, msgs)
        except Exception as e:  # e.g. a schema or update we cannot parse
            log.err("%s: cannot process database reply (%s), disconnecting", conn.name, e)
            conn.abort("protocol error")

    def disconnected(self, conn: Connection, reason: str) -> None:
        self.owner._disconnected(conn)


class IdlConnection:
    def __init__(self, idl: Idl, remote: str, *, on_change: Callable[[], None] | None = None,
                 ssl_client=None, probe_interval: float | None = None) -> None:
        self.idl = idl
        self.remote = parse_remote(remote)
        self.on_change = on_change
        self.changed = asyncio.Event()
        self.conn: Connection | None = None
        self.probe_interval = (probe_interval if probe_interval is not None else
                               (0.0 if self.remote.kind == "unix" else PROBE_INTERVAL))
        self._manager = RemoteManager(self.remote, lambda: _IdlPeer(self), ssl_client=ssl_client)
        self._last_rx = 0.0
        self._probe_task: asyncio.Task | None = None
        self._seqno = idl.change_seqno

    def start(self) -> None:
        self._manager.start()
        if self.probe_interval > 0:
            self._probe_task = asyncio.get_running_loop().create_task(self._probe())

    def close(self) -> None:
        self._manager.close()
        if self._probe_task is not None:
            self._probe_task.cancel()

    def _send(self, msgs) -> None:
        if self.conn is not None:
            for m in msgs:
                self.conn.send(jsonrpc.encode(m))

    def _connected(self, conn: Connection) -> None:
        self.conn = conn
        self._last_rx = time.monotonic()
        self._send(self.idl.connected())

    def _received(self, conn: Connection, msgs) -> None:
        if conn is not self.conn:
            return
        self._last_rx = time.monotonic()
        for m in msgs:
            out, _ = self.idl.receive(m)
            self._send(out)
        if self.idl.error:
            log.warn("%s: %s", conn.name, self.idl.error)
            self.idl.error = None
        if self.idl.state is State.FAILED:
            # Try again on a new session, after the reconnect backoff.
            conn.abort("database not usable")
        self._notify()

    def _disconnected(self, conn: Connection) -> None:
        if conn is self.conn:
            self.conn = None
            self.idl.disconnected()

    def _notify(self) -> None:
        if self.idl.change_seqno != self._seqno:
            self._seqno = self.idl.change_seqno
            self.changed.set()
            if self.on_change is not None:
                self.on_change()

    def commit(self, txn: Transaction) -> "asyncio.Future[TxnResult]":
        fut: asyncio.Future[TxnResult] = asyncio.get_running_loop().create_future()

        def done(res: TxnResult) -> None:
            if not fut.done():
                fut.set_result(res)

        if self.conn is None or not self.idl.is_connected:
            fut.set_result(TxnResult(TxnStatus.TRY_AGAIN))
            return fut
        self._send([self.idl.commit(txn, done)])
        return fut

    async def _probe(self) -> None:
        probing = False
        while True:
            await asyncio.sleep(self.probe_interval)
            conn = self.conn
            if conn is None:
                probing = False
                continue
            idle = time.monotonic() - self._last_rx
            if idle < self.probe_interval:
                probing = False
            elif not probing:
                conn.send(jsonrpc.encode(jsonrpc.Request("echo", [], "echo")))
                probing = True
            else:
                log.err("%s: no response to inactivity probe after %.3g seconds, "
                        "disconnecting", conn.name, idle)
                conn.abort("inactivity probe")
                probing = False
