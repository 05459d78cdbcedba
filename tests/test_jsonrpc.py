"""The JSON-RPC framer: whole, byte by byte, several per chunk, and garbage."""

import json

import pytest
from hypothesis import given, strategies as st

from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.jsonrpc import Framer, JsonRpcError, Notification, Reply, Request

MSGS = [
    {"method": "transact", "params": ["db", {"op": "select", "s": "a\"}{[\\"}], "id": 1},
    {"method": "update", "params": [None, {"t": {"x": {"new": {"c": "é☃"}}}}], "id": None},
    {"result": [{"rows": []}], "error": None, "id": "x"},
]
STREAM = b"".join(json.dumps(m, ensure_ascii=False).encode() for m in MSGS)


def test_whole_stream():
    out = Framer().feed(STREAM)
    assert [type(m) for m in out] == [Request, Notification, Reply]
    assert out[0].params[1]["s"] == 'a"}{[\\'
    assert out[1].params[1]["t"]["x"]["new"]["c"] == "é☃"


def test_byte_by_byte():
    f = Framer()
    out = []
    for i in range(len(STREAM)):
        out += f.feed(STREAM[i:i + 1])
    assert [jsonrpc.to_json(m) for m in out] == [jsonrpc.to_json(m) for m in Framer().feed(STREAM)]
    assert f.pending == 0


def test_trailing_garbage_is_an_error():
    f = Framer()
    assert len(f.feed(STREAM + b"  ")) == 3
    with pytest.raises(JsonRpcError):
        f.feed(b"xyz")


def test_invalid_json_inside_braces():
    with pytest.raises(JsonRpcError):
        Framer().feed(b'{"method": nope}')


def test_size_limit():
    f = Framer(max_message=100)
    with pytest.raises(JsonRpcError):
        f.feed(b'{"method":"echo","params":["' + b"x" * 200)


def test_not_a_message():
    with pytest.raises(JsonRpcError):
        Framer().feed(b'{"foo": 1}')


def test_encode_round_trip():
    m = Request("echo", ["a"], 7)
    assert Framer().feed(jsonrpc.encode(m)) == [m]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=5), kids, max_size=4),
    max_leaves=20)


@given(st.lists(json_values, max_size=4), st.integers(min_value=1, max_value=7))
def test_any_chunking(params, step):
    msgs = [Request("m", [p], i) for i, p in enumerate(params)]
    data = b" ".join(jsonrpc.encode(m) for m in msgs)
    f = Framer()
    out = []
    for i in range(0, len(data), step):
        out += f.feed(data[i:i + step])
    assert out == msgs


@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_other_exceptions(data):
    try:
        Framer().feed(data)
    except JsonRpcError:
        pass
