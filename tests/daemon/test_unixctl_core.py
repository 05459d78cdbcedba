"""The unixctl protocol core: validation in OVS's words, reply bytes, protocol violations."""

import json

import pytest

from pyvswitch.unixctl.core import Close, CommandTable, Connection, Invoke, Send, encode_reply


@pytest.fixture
def table():
    t = CommandTable()
    t.register("exit", "", 0, 0, lambda a: (True, ""))
    t.register("ovsdb-server/add-remote", "REMOTE", 1, 1, lambda a: (True, ""))
    t.register("vlog/set", "{spec | PATTERN:destination:pattern}", 0, 100, lambda a: (True, ""))
    return t


def request(method, params, ident=1):
    return json.dumps({"method": method, "params": params, "id": ident}).encode()


def error_of(events):
    (ev,) = events
    assert isinstance(ev, Send)
    return json.loads(ev.data)


@pytest.mark.parametrize("method, params, error", [
    ("nonexist", [], '"nonexist" is not a valid command (use "list-commands" to see a list of valid commands)\n'),
    ("exit", ["x"], '"exit" command takes at most 0 arguments\n'),
    ("ovsdb-server/add-remote", [], '"ovsdb-server/add-remote" command requires at least 1 arguments\n'),
    ("vlog/set", [1], '"vlog/set" command has non-string argument\n'),
])
def test_validation_errors(table, method, params, error):
    c = Connection(table, "unix#1")
    reply = error_of(c.receive(request(method, params)))
    assert reply == {"id": 1, "error": error}
    assert list(reply) == ["id", "error"]


def test_valid_request_whole_and_byte_by_byte(table):
    data = request("vlog/set", ["a", "b"], "abc") + request("exit", [], 2)
    whole = Connection(table, "unix#1").receive(data)
    c = Connection(table, "unix#2")
    trickled = [ev for i in range(len(data)) for ev in c.receive(data[i:i + 1])]
    for evs in (whole, trickled):
        assert [(e.id, e.command.name, e.args) for e in evs] == [("abc", "vlog/set", ["a", "b"]),
                                                                 (2, "exit", [])]
        assert all(isinstance(e, Invoke) for e in evs)


def test_reply_bytes_match_ovs():
    assert encode_reply(1, True, "ovsdb-server (Open vSwitch) 3.1.0\n") == \
        b'{"id":1,"result":"ovsdb-server (Open vSwitch) 3.1.0\\n","error":null}'
    assert encode_reply(0, False, "no such remote") == b'{"id":0,"error":"no such remote\\n"}'


@pytest.mark.parametrize("data, reason", [
    (b'{"method":"exit","params":[],"id":null}', "unix#1: received unexpected notification message"),
    (b'{"result":"x","error":null,"id":2}', "unix#1: received unexpected reply message"),
    (b'{"method":"exit","id":2}', 'unix#1: received bad JSON-RPC message: request must have "params"'),
    (b'garbage', None),
])
def test_protocol_violations_close(table, data, reason):
    c = Connection(table, "unix#1")
    evs = c.receive(data)
    assert len(evs) == 1 and isinstance(evs[0], Close)
    if reason:
        assert evs[0].reason == reason
    assert c.receive(request("exit", [])) == []


def test_list_commands_layout(table):
    text = table.list_commands()
    assert text.startswith("The available commands are:\n")
    assert "  exit                    \n" in text
    assert "  ovsdb-server/add-remote REMOTE\n" in text
    assert "  vlog/set                {spec | PATTERN:destination:pattern}\n" in text
