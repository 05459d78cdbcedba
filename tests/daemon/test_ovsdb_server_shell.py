"""The ovsdb-server event-loop shell with a fake core and fake storage: group commit,
effect ordering, closing, remotes from the database (no sockets, no real engine)."""

import asyncio

from pyvswitch.aio.ovsdb_server import OvsdbServerShell
from pyvswitch.ovsdb.server import Close, LogCommit, Send


class FakeCore:
    def __init__(self):
        self.next_sid = 1
        self.closed = []
        self.probes = {}

    def open_session(self, now, name=""):
        sid, self.next_sid = self.next_sid, self.next_sid + 1
        return sid

    def receive(self, sid, data, now):
        if data == b"bye":
            return [Close(sid, f"s{sid}: bye")]
        if data == b"boom":
            raise RuntimeError("a bug in the core")
        return [LogCommit("db", (sid, data)), Send(sid, b"ack:" + data)]

    def set_probe_interval(self, sid, seconds):
        self.probes[sid] = seconds

    def close_session(self, sid, now):
        self.closed.append(sid)
        return []

    def next_deadline(self):
        return None

    def add_database(self, db, name, now):
        return []

    def database_names(self):
        return ["_Server", "db"]


class FakeStorage:
    def __init__(self, events):
        self.events = events
        self.schema = type("S", (), {"name": "db", "tables": {}})()
        self.db = None

    def append_commits(self, commits):
        self.events.append(("write", list(commits)))

    def should_compact(self, now):
        return False

    def close(self):
        pass


class FakeConn:
    def __init__(self, name, events):
        self.name, self.events = name, events
        self.context = None
        self.closed = False

    def send(self, data):
        self.events.append(("send", self.name, data))

    def close(self, reason=""):
        self.closed = True
        self.events.append(("close", self.name))

    def abort(self, reason=""):
        self.closed = True
        self.events.append(("abort", self.name))


def run(coro):
    return asyncio.run(coro)


def one_iteration(inputs, storage_class=FakeStorage):
    """Hands the shell each (connection name, bytes) of inputs as the selector
    hands over input ready in one loop iteration.  Returns what had been done
    when the last input's callback returned, all that was done one iteration
    later, and the core."""
    async def main():
        events = []
        core = FakeCore()
        shell = OvsdbServerShell(core, clock=lambda: 1.0)
        shell.add_storage(storage_class(events))
        conns = {}
        for name, _ in inputs:
            if name not in conns:
                conns[name] = FakeConn(name, events)
                shell.connected(conns[name])
        loop = asyncio.get_running_loop()
        seen = loop.create_future()

        def data_received(name, data, last):
            shell.received(conns[name], data)
            if last:
                seen.set_result(list(events))
        for i, (name, data) in enumerate(inputs):
            loop.call_soon(data_received, name, data, i == len(inputs) - 1)
        at_once = await seen
        await asyncio.sleep(0)
        return at_once, events, core

    return run(main())


def test_commits_of_one_iteration_share_one_write_and_precede_replies():
    at_once, events, _ = one_iteration([("a", b"t1"), ("b", b"t2"), ("a", b"t3")])
    assert at_once == []            # nothing applied before the iteration's input is all in
    assert events[0] == ("write", [(1, b"t1"), (2, b"t2"), (1, b"t3")])
    assert events[1:] == [("send", "a", b"ack:t1"), ("send", "b", b"ack:t2"), ("send", "a", b"ack:t3")]


def test_a_lone_transaction_is_written_and_answered_at_once():
    at_once, _, _ = one_iteration([("a", b"t1")])
    assert at_once == [("write", [(1, b"t1")]), ("send", "a", b"ack:t1")]


def test_a_failed_write_drops_the_sessions_it_would_have_answered():
    class FailingStorage(FakeStorage):
        def append_commits(self, commits):
            raise OSError(28, "No space left on device")

        def compact(self, now):
            raise OSError(28, "No space left on device")

    at_once, _, core = one_iteration([("a", b"t1")], FailingStorage)
    assert at_once == [("abort", "a")] and core.closed == [1]


def test_close_effect_drops_the_connection_without_calling_back_the_core():
    async def main():
        events = []
        core = FakeCore()
        shell = OvsdbServerShell(core, clock=lambda: 1.0)
        shell.add_storage(FakeStorage(events))
        a = FakeConn("a", events)
        shell.connected(a)
        shell.received(a, b"bye")
        await asyncio.sleep(0)
        shell.disconnected(a, "closed")       # the transport reports it later
        shell.received(a, b"late")            # and nothing more is accepted
        await asyncio.sleep(0)
        return events, core, shell

    events, core, shell = run(main())
    assert events == [("close", "a")]
    assert core.closed == [] and shell.conns == {}


def test_peer_disconnect_tells_the_core():
    async def main():
        core = FakeCore()
        shell = OvsdbServerShell(core, clock=lambda: 1.0)
        a = FakeConn("a", [])
        shell.connected(a)
        shell.disconnected(a, "connection closed by peer")
        return core

    assert run(main()).closed == [1]


def test_list_dbs_and_remote_commands():
    from pyvswitch.unixctl.core import CommandTable

    async def main():
        shell = OvsdbServerShell(FakeCore(), clock=lambda: 1.0)
        shell.add_storage(FakeStorage([]))
        t = CommandTable()
        shell.register_commands(t)
        c = t.commands
        out = [c["ovsdb-server/list-dbs"].handler([]),
               c["ovsdb-server/remove-remote"].handler(["punix:/x"]),
               c["ovsdb-server/add-remote"].handler(["db:nodb,T,c"]),
               c["ovsdb-server/add-remote"].handler(["db:db,T,c"]),
               c["ovsdb-server/compact"].handler(["_Server"]),
               c["ovsdb-server/remove-db"].handler(["_Server"]),
               c["ovsdb-server/remove-db"].handler(["other"])]
        return out

    assert run(main()) == [
        (True, "_Server\ndb\n"),
        (False, "no such remote"),
        (False, '"db:nodb,T,c": no database named nodb'),
        (False, '"db:db,T,c": no table named T'),
        (False, "cannot compact built-in databases"),
        (False, "Cannot remove reserved database."),
        (False, "Failed to find the database."),
    ]


def test_a_core_exception_costs_only_that_session():
    async def main():
        events = []
        core = FakeCore()
        shell = OvsdbServerShell(core, clock=lambda: 1.0)
        shell.add_storage(FakeStorage(events))
        a, b = FakeConn("a", events), FakeConn("b", events)
        shell.connected(a)
        shell.connected(b)
        shell.received(a, b"boom")
        shell.received(b, b"t1")
        await asyncio.sleep(0)
        return events, core

    events, core = run(main())
    assert events == [("abort", "a"), ("write", [(2, b"t1")]), ("send", "b", b"ack:t1")]
    assert core.closed == [1]


def test_unix_sessions_are_not_probed_tcp_ones_keep_the_default():
    from pyvswitch.aio.stream import parse_remote

    class Owner:
        def __init__(self, text):
            self.remote = parse_remote(text)

    async def main():
        core = FakeCore()
        shell = OvsdbServerShell(core, clock=lambda: 1.0)
        for text in ("punix:/x.sock", "ptcp:0:127.0.0.1", "unix:/y.sock"):
            c = FakeConn(text, [])
            c.owner = Owner(text)
            shell.connected(c)
        return core.probes

    assert run(main()) == {1: 0.0, 3: 0.0}


class FailingStorage(FakeStorage):
    def __init__(self, events):
        super().__init__(events)
        self.append_ok = False
        self.compact_ok = False

    def append_commits(self, commits):
        if not self.append_ok:
            raise OSError(28, "No space left on device")
        super().append_commits(commits)

    def compact(self, now):
        if not self.compact_ok:
            raise OSError(28, "No space left on device")
        self.events.append(("compact",))


def test_a_failed_write_is_never_acknowledged_and_compaction_recovers():
    async def main():
        events = []
        core = FakeCore()
        shell = OvsdbServerShell(core, clock=lambda: 1.0)
        storage = FailingStorage(events)
        shell.add_storage(storage)
        a, b = FakeConn("a", events), FakeConn("b", events)
        shell.connected(a)
        shell.connected(b)
        shell.received(a, b"t1")
        await asyncio.sleep(0)
        first = list(events)
        # The disk is back: the next batch compacts (whole database) and is acknowledged.
        storage.compact_ok = True
        shell.received(b, b"t2")
        await asyncio.sleep(0)
        second = events[len(first):]
        return first, second, core

    first, second, core = run(main())
    assert first == [("abort", "a")] and core.closed == [1]
    assert second == [("compact",), ("send", "b", b"ack:t2")]
