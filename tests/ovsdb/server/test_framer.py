"""The one JSON-RPC framer (ovsdb/jsonrpc.Framer): its fast decode, its exact
scan, what an error keeps, and the bound on work for a large text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server_harness import Harness

from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.jsonrpc import Framer, JsonRpcError
from pyvswitch.ovsdb.ovs_json import DECODER as JSON_DECODER

ECHO = b'{"id":1,"method":"echo","params":[]}'


class CountingDecoder:
    """A decoder that counts the characters each decode starts from."""

    def __init__(self) -> None:
        self.chars = 0
        self.calls = 0

    def raw_decode(self, s: str, idx: int = 0):
        self.calls += 1
        self.chars += len(s) - idx
        return jsonrpc._DECODER.raw_decode(s, idx)


def feed_in(f: Framer, data: bytes, cuts) -> list:
    out = []
    pos = 0
    for c in cuts:
        out += f.feed_json(data[pos:pos + c])
        pos += c
    return out + f.feed_json(data[pos:])


@pytest.mark.parametrize("garbage, words", [
    (b'{"a":nope}', "syntax error"),
    (b"xyz", "must be a JSON object"),
    (b'\xff{"a":1}', "invalid UTF-8"),
    (b'{"a":"\xff"}', "invalid UTF-8"),
])
def test_an_error_keeps_what_came_before_it(garbage, words):
    with pytest.raises(JsonRpcError, match=words) as e:
        Framer().feed_json(ECHO + b" " + ECHO + garbage)
    assert e.value.values == [json.loads(ECHO)] * 2
    with pytest.raises(JsonRpcError) as e:
        Framer().feed(ECHO + garbage)
    assert e.value.values == [jsonrpc.Request("echo", [], 1)]


def test_an_error_after_a_kept_text_keeps_it_too():
    f = Framer()
    assert f.feed_json(ECHO[:10]) == []
    with pytest.raises(JsonRpcError) as e:
        f.feed_json(ECHO[10:] + b"[1,}")
    assert e.value.values == [json.loads(ECHO)]


def test_an_invalid_message_keeps_the_messages_before_it():
    with pytest.raises(JsonRpcError, match="not a JSON-RPC") as e:
        Framer().feed(ECHO + b'{"foo":1}' + ECHO)
    assert e.value.values == [jsonrpc.Request("echo", [], 1)]


@pytest.mark.parametrize("text", [b'{"a":[1.5]}', b'{"a":[1e5]}', b'{"a":[-1.5e-3]}', b'{"a":[true]}',
                                  b'{"a":"\\u00e9]"}', b'{"a":"\xc3\xa9]"}'])
def test_a_cut_the_decoder_cannot_judge_is_scanned(text):
    for k in range(1, len(text)):
        f = Framer()
        assert feed_in(f, text + ECHO, [k]) == [json.loads(text), json.loads(ECHO)], k
        assert f.pending == 0


def test_a_large_text_in_many_bracketed_chunks_costs_linear_decoding():
    rows = {f"r{i}": {"name": f"n{i}", "ids": ["map", [["k", "v"]]], "tag": [i]} for i in range(3000)}
    data = json.dumps({"id": 1, "result": rows, "error": None}).encode()
    dec = CountingDecoder()
    f = Framer(decoder=dec)
    got = []
    pos = 0
    while pos < len(data):   # every chunk ends just after a closing bracket
        end = data.index(b"]", pos + 512) + 1 if data.find(b"]", pos + 512) >= 0 else len(data)
        got += f.feed_json(data[pos:end])
        pos = end
    assert got == [json.loads(data)]
    assert dec.chars <= 6 * len(data)


def test_the_decoder_can_be_chosen():
    f = Framer(decoder=JSON_DECODER)
    assert f.feed(b'{"id":1,"result":[2.0,1e3,1.5],"error":null}') == [jsonrpc.Reply([2, 1000, 1.5], 1)]
    with pytest.raises(JsonRpcError):
        Framer(decoder=JSON_DECODER).feed(b'{"id":1,"result":[NaN],"error":null}')


def test_size_limit_holds_for_values_too():
    f = Framer(max_message=100)
    assert f.feed_json(b'{"a":"' + b"x" * 50) == []
    with pytest.raises(JsonRpcError, match="exceeds 100 bytes"):
        f.feed_json(b"x" * 60)
    with pytest.raises(JsonRpcError, match="exceeds 100 bytes"):
        Framer(max_message=100).feed_json(b'{"a":1.' + b"1" * 200)


json_docs = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=15)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.dictionaries(st.text(max_size=3), json_docs, max_size=3), st.booleans()),
                min_size=1, max_size=4),
       st.lists(st.integers(1, 60), max_size=20), st.sampled_from(["", " ", "\n"]))
def test_framer_reassembles_any_cut(messages, cuts, sep):
    docs = [m for m, _ in messages]
    data = sep.join(json.dumps(m, ensure_ascii=ascii_) for m, ascii_ in messages).encode()
    assert feed_in(Framer(), data, cuts) == docs


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=30), max_size=6))
def test_framer_only_ever_raises_jsonrpc_errors(chunks):
    f = Framer()
    try:
        for c in chunks:
            f.feed_json(c)
    except JsonRpcError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=3), json_docs, max_size=3), min_size=1, max_size=4),
       st.lists(st.integers(1, 40), max_size=20), st.binary(min_size=1, max_size=8))
def test_what_precedes_garbage_is_always_delivered(docs, cuts, garbage):
    data = b" ".join(json.dumps(d, ensure_ascii=False).encode() for d in docs)
    data += b" " + garbage
    f = Framer()
    got = []
    try:
        pos = 0
        for c in cuts + [len(data)]:
            got += f.feed_json(data[pos:pos + c])
            pos += c
    except JsonRpcError as e:
        got += e.values
    assert got[:len(docs)] == docs


def test_the_server_answers_what_came_before_garbage_then_closes():
    h = Harness()
    c = h.client()
    c.send_bytes(ECHO + b'{"a":nope}')
    assert c.take() == [{"id": 1, "result": [], "error": None}]
    assert "receive error: syntax error" in h.closed[c.sid]
