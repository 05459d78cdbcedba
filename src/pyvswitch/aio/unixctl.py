"""The unixctl server on asyncio: a Unix socket driving `unixctl.core`.

`UnixctlServer.start(table, path)` binds the control socket (removing a
stale one), runs each valid request's handler and writes the reply.  A
handler may return `(ok, text)` or an awaitable of it; one that raises is
answered with an error rather than hurting the daemon.  The socket file is
removed by `close()`.
"""

from __future__ import annotations

import asyncio
import inspect
import os

from pyvswitch import dirs, vlog
from pyvswitch.aio.stream import bind_unix
from pyvswitch.ovsdb import jsonrpc
from pyvswitch.unixctl.core import Close, CommandTable, Connection, Invoke, Send

log = vlog.module("unixctl")


def server_path(program: str, option: str | None) -> str | None:
    """The socket for --unixctl=OPTION: None for "none", RUNDIR-relative otherwise."""
    if option == "none":
        return None
    if not option:
        return dirs.default_ctl(program)
    return dirs.abs_file_name(dirs.rundir(), option)


class _Session(asyncio.Protocol):
    _seq = 0

    def __init__(self, table: CommandTable) -> None:
        _Session._seq += 1
        self.core = Connection(table, f"unix#{_Session._seq}")
        self.transport: asyncio.Transport | None = None
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        for ev in self.core.receive(data):
            if isinstance(ev, Send):
                self._write(ev.data)
            elif isinstance(ev, Close):
                log.warn("%s", ev.reason)
                if self.transport is not None:
                    self.transport.close()
            elif isinstance(ev, Invoke):
                self._invoke(ev)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _reply(self, ident, ok: bool, text: str) -> None:
        if ok:
            log.dbg('replying with success, id=%s: "%s"', jsonrpc.dumps(ident), text)
        else:
            log.dbg('replying with error, id=%s: "%s"', jsonrpc.dumps(ident), text)
        self._write(Connection.reply(ident, ok, text))

    def _invoke(self, ev: Invoke) -> None:
        if log.is_enabled(vlog.Level.DBG):
            log.dbg("received request %s%s, id=%s", ev.command.name, jsonrpc.dumps(ev.args),
                    jsonrpc.dumps(ev.id))
        try:
            result = ev.command.handler(ev.args)
        except Exception as e:  # a buggy command must not take the daemon down
            log.err("%s: command failed: %s", ev.command.name, e)
            self._reply(ev.id, False, f"{ev.command.name}: {e}")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self.tasks.add(task)

            def done(t: asyncio.Task, ident=ev.id, name=ev.command.name) -> None:
                self.tasks.discard(t)
                if t.cancelled():
                    self._reply(ident, False, f"{name}: cancelled")
                elif t.exception() is not None:
                    log.err("%s: command failed: %s", name, t.exception())
                    self._reply(ident, False, f"{name}: {t.exception()}")
                else:
                    ok, text = t.result()
                    self._reply(ident, ok, text)

            task.add_done_callback(done)
            return
        ok, text = result
        self._reply(ev.id, ok, text)


class UnixctlServer:
    def __init__(self, table: CommandTable, path: str, server: asyncio.base_events.Server) -> None:
        self.table = table
        self.path = path
        self._server = server

    @classmethod
    async def start(cls, table: CommandTable, path: str) -> "UnixctlServer":
        """Binds path; raises OSError."""
        loop = asyncio.get_running_loop()
        server = await loop.create_unix_server(lambda: _Session(table), sock=bind_unix(path))
        return cls(table, path, server)

    def close(self) -> None:
        self._server.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
