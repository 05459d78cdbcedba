"""In-process tests of ovs-vsctl's pieces: command-line parsing, value syntax,
the view's transaction, and a whole run against the in-memory OVSDB engine
(with a concurrent change in the middle, which must make it retry)."""

from __future__ import annotations

import collections
import io
import json
import time

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.cli.ovs_vsctl import Options, all_commands
from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.types import Type
from pyvswitch.vsctl import parse, values
from pyvswitch.vsctl.command import VsctlError
from pyvswitch.vsctl.runner import Runner
from pyvswitch.vsctl.view import View, idl_order

from util import REPO

SCHEMA_JSON = json.loads((REPO / "src/pyvswitch/schemas/vswitch.ovsschema").read_text())
SCHEMA = DatabaseSchema.from_json(SCHEMA_JSON)
COMMANDS = all_commands()


def commands(words):
    g, local, rest = parse.parse_global(words, parse.command_option_names(COMMANDS.values()))
    return g, parse.split_commands(rest, local, COMMANDS.get)


# --- command line ---

def test_the_command_index_matches_the_command_modules():
    """ovs-vsctl parses with an index of the command modules, so as to import only the ones a call uses."""
    from pyvswitch.cli import ovs_vsctl
    from pyvswitch.vsctl import dbcmds, vswitch
    assert ovs_vsctl.VSWITCH_COMMANDS == {spec.name for spec in vswitch.COMMANDS}
    assert not ovs_vsctl.VSWITCH_COMMANDS & {spec.name for spec in dbcmds.COMMANDS}
    assert list(ovs_vsctl.COMMAND_OPTIONS) == parse.command_option_names([*vswitch.COMMANDS, *dbcmds.COMMANDS])
    table = ovs_vsctl.CommandTable()
    assert table.get("set") is COMMANDS["set"] and table.get("add-br") is COMMANDS["add-br"]
    assert table.get("nope") is None and list(COMMANDS.values()) == table.values()


def test_global_and_local_options():
    g, cmds = commands(["--no-wait", "-t", "5", "--may-exist", "add-br", "br0", "--", "list-br"])
    assert g == [("no-wait", None), ("timeout", "5")]
    assert [(c.name, c.args, c.options) for c in cmds] == [
        ("add-br", ["br0"], {"--may-exist": None}), ("list-br", [], {})]


def test_abbreviated_and_ambiguous_options():
    assert commands(["--no-w", "list-br"])[0] == [("no-wait", None)]
    with pytest.raises(parse.GetoptError, match="option '--no' is ambiguous; possibilities: '--no-syslog'"):
        commands(["--no", "list-br"])


@pytest.mark.parametrize("words, message", [
    ([], "missing command name (use --help for help)"),
    (["foo"], "unknown command 'foo'; use --help for help"),
    (["add-br"], "'add-br' command requires at least 1 arguments"),
    (["list-br", "--real"], "'list-br' command takes at most 0 arguments (note that options must precede "
                            'command names and follow a "--" argument)'),
    (["--", "--id=@x", "list-br"], "'list-br' command has no '--id' option"),
    (["--", "--id", "create", "Bridge", "name=x"], "missing argument to '--id' option on 'create' command"),
    (["--", "--if-exists=1", "del-br", "x"], "'--if-exists' option on 'del-br' does not accept an argument"),
])
def test_command_errors(words, message):
    with pytest.raises(parse.UsageError) as e:
        commands(words)
    assert str(e.value) == message


# --- value syntax ---

def T(j):
    return Type.from_json(j)


@pytest.mark.parametrize("type_json, text, value", [
    ("string", "abc", "abc"),
    ("string", '"a b"', "a b"),
    ({"key": "integer", "min": 0, "max": 4096}, "1,2 3", (1, 2, 3)),
    ({"key": "integer", "min": 0, "max": 4096}, "[5-7]", (5, 6, 7)),
    ({"key": "string", "value": "string", "min": 0, "max": "unlimited"}, '{a=b, "c d"="e:f"}',
     (("a", "b"), ("c d", "e:f"))),
    ({"key": "string", "value": "string", "min": 0, "max": "unlimited"}, "x=1", (("x", "1"),)),
    ({"key": "boolean", "min": 0, "max": 1}, "[]", ()),
    ("boolean", "true", True),
])
def test_datum_from_string(type_json, text, value):
    assert values.datum_from_string(T(type_json), text) == value


@pytest.mark.parametrize("type_json, text, message", [
    ("boolean", "maybe", '"maybe" is not a valid boolean (use "true" or "false")'),
    ("integer", "x", '"x" is not a valid integer or range'),
    ({"key": "string", "value": "string", "min": 0, "max": "unlimited"}, "abc", 'abc: syntax error at "'),
    ({"key": "integer", "min": 0, "max": 4096}, "{1}", '{1}: unexpected "{" parsing set of up to 4096 integers'),
    ({"key": {"type": "string", "enum": ["set", ["a", "b"]]}}, "c",
     "constraint violation: c is not one of the allowed values ([a, b])"),
])
def test_datum_errors(type_json, text, message):
    with pytest.raises(VsctlError) as e:
        values.datum_from_string(T(type_json), text)
    assert str(e.value) == message


def test_empty_atom():
    with pytest.raises(VsctlError, match='An empty string is not valid as input; use "" to represent'):
        values.atom_from_string(T("string").key, "")


MAP = T({"key": "string", "value": "string", "min": 0, "max": "unlimited"})
SET = T({"key": "integer", "min": 0, "max": "unlimited"})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=5))
def test_map_text_round_trip(d):
    value = tuple(sorted(d.items()))
    assert values.datum_from_string(MAP, values.datum_to_string(MAP, value)) == value


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(-1000, 1000), max_size=6))
def test_set_text_round_trip(s):
    value = tuple(sorted(s))
    assert values.datum_from_string(SET, values.datum_to_string(SET, value)) == value


def test_strings_print_quoted_only_when_needed():
    s = T("string")
    assert [values.datum_to_string(s, x) for x in ("br0", "a b", "00ab", "true", "", "x.y-z")] == \
        ["br0", '"a b"', '"00ab"', '"true"', '""', "x.y-z"]


# --- the view ---

def test_rows_in_idl_hash_order():
    view = View(SCHEMA, {"Bridge": {u: {"name": u[:2]} for u in (
        "89b2c9e5-c3de-4c21-a2f1-f7209b8bb8a2", "2b4e8ab5-0030-4391-ae24-8eeb71bf7812",
        "b7d61b93-898b-4be2-9cfd-fd72a349d62e")}}, {"Bridge": {"name"}})
    assert [r["name"] for r in view.rows("Bridge")] == ["2b", "89", "b7"]
    assert [r.uuid[:2] for r in idl_order(view.rows("Bridge"))] == ["2b", "89", "b7"]


def test_operations_carry_waits_named_uuids_and_skip_unchanged_writes():
    u = "2b4e8ab5-0030-4391-ae24-8eeb71bf7812"
    view = View(SCHEMA, {"Bridge": {u: {"name": "br0", "ports": (), "stp_enable": False}}},
                {"Bridge": {"name", "ports", "stp_enable"}})
    br = view.get("Bridge", u)
    view.verify(br, "ports")
    view.write(br, "stp_enable", False)
    assert not view.has_changes()
    port = view.insert("Port")
    view.write(port, "name", "p1")
    view.write(br, "ports", (port.uuid,))
    ops = view.operations()
    assert [op["op"] for op in ops] == ["wait", "insert", "update"]
    assert ops[0]["rows"] == [{"ports": ["set", []]}]
    name = ops[1]["uuid-name"]
    assert ops[2]["row"] == {"ports": ["named-uuid", name]}


# --- whole runs against the engine ---

class EngineConnection:
    """Answers transact requests from an in-memory Database; `meddle` runs
    before the n-th request, to play a concurrent client."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls = 0
        self.meddle = {}

    def transact(self, name, ops):
        self.calls += 1
        if self.calls in self.meddle:
            self.meddle.pop(self.calls)()
        return self.db.execute(ops, now=time.time()).results


def vsctl(conn, *words):
    g, cmds = commands(list(words))
    opts = Options(wait_for_reload=False)
    out = io.StringIO()
    from pyvswitch import vlog
    rc = Runner(conn, SCHEMA, cmds, opts, list(words), vlog, out=out).run()
    return rc, out.getvalue()


def test_a_run_against_the_engine():
    conn = EngineConnection(Database(SCHEMA))
    assert vsctl(conn, "add-br", "br0", "--", "add-port", "br0", "p1", "tag=3") == (0, "")
    assert vsctl(conn, "list-ports", "br0", "--", "get", "Port", "p1", "tag") == (0, "p1\n3\n")
    with pytest.raises(VsctlError, match="no bridge named br9"):
        vsctl(conn, "add-port", "br9", "p2")


def test_a_concurrent_change_makes_the_run_retry():
    conn = EngineConnection(Database(SCHEMA))
    vsctl(conn, "add-br", "br0")
    conn.calls = 0
    # Between our fetch (request 1) and our commit (request 2) another
    # client adds a port; the commit's wait on Bridge.ports fails and the
    # run starts over, keeping both ports.
    conn.meddle[2] = lambda: vsctl(EngineConnection(conn.db), "add-port", "br0", "other")
    assert vsctl(conn, "add-port", "br0", "mine") == (0, "")
    assert conn.calls == 4
    assert vsctl(conn, "list-ports", "br0") == (0, "mine\nother\n")


def test_bad_input_changes_nothing():
    conn = EngineConnection(Database(SCHEMA))
    vsctl(conn, "add-br", "br0")
    before = conn.db.snapshot_record(date_ms=0)
    for words in (["add-br", "br1", "--", "set", "Bridge", "br1", "stp_enable=maybe"],
                  ["add-port", "br0", "p1", "--", "add-port", "br0", "p1"],
                  ["set", "Bridge", "br0", "fail_mode=bad"],
                  ["del-br", "br0", "--", "del-br", "br0"]):
        with pytest.raises(VsctlError):
            vsctl(conn, *words)
    assert conn.db.snapshot_record(date_ms=0) == before


SYMBOLS = collections.defaultdict(lambda: "5a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")
TYPES = [T("string"), T("integer"), T("boolean"), T("real"), MAP, SET,
         T({"key": "uuid", "min": 0, "max": "unlimited"}),
         T({"key": {"type": "integer", "minInteger": 0, "maxInteger": 4095}, "min": 0, "max": 4096})]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TYPES), st.text(alphabet=' ,=[]{}"\\:@-0123456789abcxyz.', max_size=12))
def test_any_text_parses_or_fails_with_a_message(t, text):
    try:
        value = values.datum_from_string(t, text, SYMBOLS)
    except VsctlError as e:
        assert str(e)
    else:
        # What parses must be a valid datum of the type.
        t.check_datum(value)
