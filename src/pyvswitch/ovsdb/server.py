"""The ovsdb-server protocol engine (RFC 7047), sans I/O.

`ServerCore` is everything ovsdb-server does between the bytes a client sends
and the bytes it gets back, with no sockets and no clock: the shell (the
asyncio daemon) owns the listeners, the storage files and the time.

Interface for the shell::

    core = ServerCore(now=t)                    # databases, sessions, locks
    core.add_database(db, name=None)            # storage is the shell's business
    effects = core.remove_database(name, now)
    sid = core.open_session(now, name="unix#3") # a new client connection
    core.set_probe_interval(sid, seconds)       # 0 disables (default 5 s, as OVS)
    effects = core.receive(sid, data, now)      # bytes from that client
    effects = core.close_session(sid, now)      # the peer went away
    effects = core.handle_timer(now)            # call at core.next_deadline()
    core.next_deadline() -> float | None

Every call returns a list of effects which the shell applies IN ORDER:

- `LogCommit(db_name, commit)`: append `commit.record()` to that database's
  storage (fsync first if `commit.durable`) before anything later is sent;
- `Send(sid, data)`: write bytes to that session;
- `Close(sid, reason)`: drop that session (after sending what came before);
  the core has already forgotten it.

Ordering: a session's bytes are sent in the order the core produced them, and
a "transact" reply follows the update notifications its commit caused on the
same session, as ovsdb-server does.  Within one call the core gathers each
session's output into a single `Send` placed after every `LogCommit` of that
call, so a batch of pipelined requests costs one write per session.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogCommit:
    db_name: str
    commit: object


@dataclass(frozen=True, slots=True)
class Send:
    sid: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Close:
    sid: int
    reason: str


Effect = LogCommit | Send | Close

DEFAULT_PROBE_INTERVAL = 5.0
