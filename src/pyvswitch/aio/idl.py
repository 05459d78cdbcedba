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

`IdlThread` serves blocking code: the same connection on an event loop in a
thread of its own.  The replica belongs to that thread; other threads see it
only through `snapshot()` (a copy taken there), `wait(cond)` (cond runs
there) and `transact(build)` (build makes the transaction there).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from typing import Any, Callable

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


class IdlThread:
    def __init__(self, idl: Idl, remote: str, **options) -> None:
        self.idl = idl
        self.loop = asyncio.new_event_loop()
        self._conn: IdlConnection | None = None
        self._options = options
        self._remote = remote
        self._thread = threading.Thread(target=self._run, name="ovsdb-idl", daemon=True)
        self._started = threading.Event()
        self._error: Exception | None = None

    def start(self) -> "IdlThread":
        """Starts the thread; raises what starting the connection raised (a bad remote)."""
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            self.close()
            raise self._error
        return self

    def _connect(self) -> None:
        try:
            self._conn = IdlConnection(self.idl, self._remote, **self._options)
            self._conn.start()
        except Exception as e:  # handed to start()'s caller
            self._error = e
        finally:
            self._started.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._connect)
        self.loop.run_forever()
        if self._conn is not None:
            self._conn.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    def close(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)

    def _call(self, fn: Callable[[], Any], timeout: float | None) -> Any:
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except Exception as e:  # handed to the caller's thread
                fut.set_exception(e)

        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    def snapshot(self, timeout: float | None = 10.0) -> dict[str, dict[str, dict]]:
        """A copy of the replica ({table: {uuid: {column: datum}}}), consistent in time."""
        return self._call(lambda: {t: dict(rows) for t, rows in self.idl.tables.items()}, timeout)

    def wait(self, cond: Callable[[Idl], Any], timeout: float = 10.0) -> Any:
        """Blocks until cond(idl), evaluated on the IDL's thread after each change, is
        true; returns its value.  Raises TimeoutError at the deadline."""
        async def waiter():
            conn = self._conn
            while True:
                v = cond(self.idl) if self.idl.is_connected else None
                if v:
                    return v
                conn.changed.clear()
                await conn.changed.wait()

        fut = asyncio.run_coroutine_threadsafe(asyncio.wait_for(waiter(), timeout), self.loop)
        try:
            return fut.result()
        except asyncio.TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for the database") from None

    def transact(self, build: Callable[[Idl], Transaction], timeout: float = 30.0) -> TxnResult:
        """Builds a transaction on the IDL's thread (build(idl) -> Transaction), commits
        it and blocks for its result."""
        async def run():
            return await self._conn.commit(build(self.idl))

        fut = asyncio.run_coroutine_threadsafe(asyncio.wait_for(run(), timeout), self.loop)
        try:
            return fut.result()
        except asyncio.TimeoutError:
            raise TimeoutError(f"timed out after {timeout}s waiting for the commit") from None
