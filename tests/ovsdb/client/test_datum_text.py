"""The OVSDB text syntax: unit tests, and a differential test that feeds the
same text to the real ovs-vsctl (set, then get) and to datum_text."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from client_harness import VSWITCH_SCHEMA, Server
from pyvswitch.ovsdb.datum_text import DatumTextError, datum_from_string, datum_to_bare, datum_to_string
from pyvswitch.ovsdb.schema import DatabaseSchema
from pyvswitch.ovsdb.types import Type
from util import needs_reference, ref

SCHEMA = DatabaseSchema.from_json(json.loads(VSWITCH_SCHEMA.read_text())) if VSWITCH_SCHEMA.exists() else None

STR_SET = Type.from_json({"key": "string", "min": 0, "max": "unlimited"})
INT_SET = Type.from_json({"key": "integer", "min": 0, "max": "unlimited"})
REAL = Type.from_json("real")
MAP = Type.from_json({"key": "integer", "value": "string", "min": 0, "max": "unlimited"})


def test_print_and_bare():
    v = datum_from_string(STR_SET, 'b a "x y" "" é true')
    assert datum_to_string(STR_SET, v) == '["", a, b, "true", "x y", "é"]'
    assert datum_to_bare(STR_SET, v) == " a b true x y é"
    m = datum_from_string(MAP, '{2="two" 1=one}')
    assert m == ((1, "one"), (2, "two"))
    assert datum_to_string(MAP, m) == "{1=one, 2=two}"
    assert datum_to_bare(MAP, m) == "1=one 2=two"


def test_reals_and_ranges():
    assert datum_from_string(REAL, "1e3") == 1000.0
    with pytest.raises(DatumTextError, match='"inf" is not a valid real number'):
        datum_from_string(REAL, "inf")
    assert datum_from_string(INT_SET, "5-7, 1") == (1, 5, 6, 7)
    with pytest.raises(DatumTextError, match="Range size cannot exceed 4096"):
        datum_from_string(INT_SET, "0-4096")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=8),
                unique=True, max_size=5))
def test_strings_round_trip(strings):
    # Whatever the engine prints, the parser reads back as the same value.
    value = tuple(sorted(strings))
    text = datum_to_string(STR_SET, value)
    assert datum_from_string(STR_SET, text) == value


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(-2**63, 2**63 - 1), st.text(max_size=4).filter(lambda s: "\0" not in s),
                       max_size=4))
def test_maps_round_trip(d):
    value = tuple(sorted(d.items()))
    assert datum_from_string(MAP, datum_to_string(MAP, value)) == value


# --- against the real ovs-vsctl ---

CASES = [
    ("Port", "tag", ["5", "x", "5000", "[]", "[5]", "1,2", '" 5"', '"5"', "-0", "0x10", "+7", "07", "1-2",
                     "9223372036854775808", "1 1"]),
    ("Port", "trunks", ["1-3", "[1,2 3]", "1,,2", "3-1", "1-5000", "1 1", "{1}", "[1", "1]", "1-", "[ ]",
                        '"1"', "0-4095", "4,3, 2", "[1,]", ",1"]),
    ("Port", "vlan_mode", ["trunk", "bogus", '"trunk"', "[]", "[access]"]),
    ("Port", "external_ids", ["a=b", '{a=b,c="d e"}', "a", "a=b=c", '"a=b"=c', "a=b,a=c", "{a=b", "[a=b]",
                              'a="x', 'a="\\u00e9\\n"', "a=", "=b", "a=b,", "{}", "a:b=c", 'a="b"c',
                              "k=true", 'x="a\\q"', "é=ü", "a = b", "{ a=b }"]),
    ("Port", "fake_bridge", ["true", "yes", "on", "1", "false", "no", "off", "0", "True", '"true"', "[]",
                             "[true]", "tru", "y", "2"]),
    ("Bridge", "datapath_type", ['""', '"a', 'a"b', "a b", '"a\\q"', "[x]", "[]", "x,y", "é", '"a\\"b"',
                                 "a'b", "a=b", "a:b", "a{b", "a}b", '"x" y', "ad036f41-1c20-4f26-95ef-b1b93aaf03d1",
                                 "@x", "1.5", " x ", '"\\u0001"', "-x", "_x", "a.b-c"]),
    ("Bridge", "flow_tables", ["{}", "1=2", "1=ad036f41-1c20-4f26-95ef-b1b93aaf03d1"]),
]


@pytest.fixture(scope="module")
def vswitch(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("datum-text"), [VSWITCH_SCHEMA])
    try:
        vsctl = [ref("ovs-vsctl"), "--no-wait", f"--db={s.remote}"]
        subprocess.run(vsctl + ["init", "--", "add-br", "br0", "--", "add-port", "br0", "p1"],
                       env=s.env, check=True, capture_output=True)
        yield s, vsctl
    finally:
        s.close()


@needs_reference
@pytest.mark.parametrize("table,column,texts", CASES, ids=[f"{t}.{c}" for t, c, _ in CASES])
def test_matches_ovs_vsctl(vswitch, table, column, texts):
    server, vsctl = vswitch
    record = "br0" if table == "Bridge" else "p1"
    t = SCHEMA.tables[table].columns[column].type
    for text in texts:
        r = subprocess.run(vsctl + ["set", table, record, f"{column}={text}"], env=server.env,
                           capture_output=True, text=True)
        try:
            ours = datum_from_string(t, text)
        except DatumTextError as e:
            assert r.returncode != 0, text
            assert r.stderr == f"ovs-vsctl: {e}\n", text
            continue
        if r.returncode != 0 and "referential integrity" in r.stderr:
            continue  # a uuid that names no row: valid text, refused by the server
        assert r.returncode == 0, (text, r.stderr)
        got = subprocess.run(vsctl + ["get", table, record, column], env=server.env,
                             capture_output=True, text=True, check=True).stdout
        assert datum_to_string(t, ours) + "\n" == got, text


TYPES = [STR_SET, INT_SET, REAL, MAP, Type.from_json("boolean"), Type.from_json("uuid"),
         Type.from_json({"key": {"type": "integer", "minInteger": 0, "maxInteger": 10}, "min": 0, "max": 2}),
         Type.from_json({"key": {"type": "string", "enum": ["set", ["a", "b"]]}, "value": "real",
                         "min": 1, "max": "unlimited"})]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TYPES), st.text(alphabet=st.sampled_from(list('ab1-2=,:[]{}" \\\\u0é@.e+')), max_size=20))
def test_parser_fails_only_with_datum_text_errors(t, text):
    # Any other exception escaping the parser would be a bug.
    try:
        value = datum_from_string(t, text)
    except DatumTextError:
        return
    t.check_datum(value)
    assert datum_from_string(t, datum_to_string(t, value)) == value
