"""Drives a `ServerCore` with no sockets: clients, a fake clock, decoded output."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.jsonrpc import Framer, dumps
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.server import Close, ConvertDb, LogCommit, Send, ServerCore

HERE = Path(__file__).resolve().parent
TEST_SCHEMA = HERE / "test.ovsschema"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def load_schema(path=TEST_SCHEMA) -> DatabaseSchema:
    return DatabaseSchema.from_json(json.loads(Path(path).read_text()))


class Harness:
    def __init__(self, schema_path=TEST_SCHEMA, probe_interval: float = 0.0, **kw) -> None:
        self.now = 1000.0
        self.core = ServerCore(now=self.now, probe_interval=probe_interval, **kw)
        self.db = Database(load_schema(schema_path))
        self.core.add_database(self.db)
        self.clients: dict[int, Client] = {}
        self.effects: list = []       # every effect, in order
        self.commits: list = []      # LogCommit and ConvertDb effects
        self.closed: dict[int, str] = {}

    def client(self, name: str = "") -> "Client":
        c = Client(self, name)
        self.clients[c.sid] = c
        return c

    def apply(self, effects: list) -> None:
        self.effects.extend(effects)
        for e in effects:
            if isinstance(e, (LogCommit, ConvertDb)):
                self.commits.append(e)
            elif isinstance(e, Send):
                assert e.sid not in self.closed, "sent to a closed session"
                self.clients[e.sid].incoming(e.data)
            elif isinstance(e, Close):
                self.closed[e.sid] = e.reason

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.apply(self.core.handle_timer(self.now))


class Client:
    def __init__(self, h: Harness, name: str) -> None:
        self.h = h
        self.sid = h.core.open_session(h.now, name=name or "test")
        self.framer = Framer()
        self.inbox: list = []
        self.next_id = 0

    def incoming(self, data: bytes) -> None:
        self.inbox.extend(self.framer.feed_json(data))

    def send_bytes(self, data: bytes) -> None:
        self.h.apply(self.h.core.receive(self.sid, data, self.h.now))

    def send(self, msg: dict) -> None:
        self.send_bytes(dumps(msg).encode())

    def request(self, method: str, params: list, id=None) -> None:
        if id is None:
            self.next_id += 1
            id = self.next_id
        self.send({"method": method, "params": params, "id": id})

    def take(self) -> list:
        out, self.inbox = self.inbox, []
        return out

    def call(self, method: str, params: list, id=None):
        """Sends a request; returns (notifications before the reply, the reply)."""
        self.request(method, params, id)
        msgs = self.take()
        assert msgs, f"no reply to {method}"
        *notes, reply = msgs
        assert "result" in reply or "error" in reply, reply
        return notes, reply

    def result(self, method: str, params: list):
        notes, reply = self.call(method, params)
        assert reply.get("error") is None, reply
        return reply["result"]

    def error(self, method: str, params: list, id=None):
        notes, reply = self.call(method, params, id)
        assert reply.get("error") is not None and "result" not in reply, reply
        return reply["error"]

    def transact(self, *ops, db: str = "T"):
        return self.result("transact", [db, *ops])

    @property
    def closed(self) -> str | None:
        return self.h.closed.get(self.sid)
