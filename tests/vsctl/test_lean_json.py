"""pyvswitch.ovsdb.lean_json does what the json package does, results and errors alike."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.ovsdb import lean_json

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20)


def _outcome(f, *args):
    try:
        return "ok", f(*args)
    except Exception as e:
        return type(e), str(e), getattr(e, "pos", None)


def _same(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) if a[0] == "ok" == b[0] else a == b


TEXTS = ["", " ", "{}", " [1, 2.5, -0.0, 1e400, true, null] ", '{"a": {"b": []}}  x', "[1,", "[1] [2]",
         '"\\u00e9\\ud800"', '"abc', "NaN", "[Infinity, -Infinity]", "\ufeff[]", "01", "[1,]", '{"a" 1}',
         "\t\n\r 7 \n", "[" * 50 + "]" * 50, '"\x01"', "tru"]


@pytest.mark.parametrize("text", TEXTS)
def test_loads_is_json_loads(text):
    assert _same(_outcome(lean_json.loads, text), _outcome(json.loads, text))
    b = text.encode("utf-8", "surrogatepass")
    assert _same(_outcome(lean_json.loads, b), _outcome(json.loads, b))


@pytest.mark.parametrize("raw", [b"", b"{", b"\x00[\x00]", b"\xef\xbb\xbf[1]", b"[\xff]", "[1]".encode("utf-16"),
                                 bytearray(b'{"a":1}')])
def test_loads_bytes_is_json_loads(raw):
    assert _same(_outcome(lean_json.loads, raw), _outcome(json.loads, raw))


@settings(max_examples=200, deadline=None)
@given(_json_values, st.sampled_from(["", " ", "\n", "x", ",", "]"]), st.integers(0, 3))
def test_loads_and_dumps_agree_with_json(value, tail, cut):
    text = json.dumps(value, ensure_ascii=False)
    assert lean_json.dumps(value) == text
    assert _outcome(lean_json.dumps_compact, value) == _outcome(
        lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False),
        value)
    for t in (text + tail, text[:len(text) - cut]):
        assert _same(_outcome(lean_json.loads, t), _outcome(json.loads, t))


def _bad_number(s):
    raise OverflowError(s)


def test_decoder_hooks_and_raw_decode():
    ours = lean_json.Decoder(parse_float=lambda s: ("f", s), parse_int=lambda s: ("i", s),
                             parse_constant=_bad_number)
    theirs = json.JSONDecoder(parse_float=lambda s: ("f", s), parse_int=lambda s: ("i", s),
                              parse_constant=_bad_number)
    for text, pos in (('x [1, 2.0, "a"] y', 2), ("[1, NaN]", 0), ("[1, 2", 0), ("  1", 0), ("[]", 5)):
        assert _outcome(ours.raw_decode, text, pos) == _outcome(theirs.raw_decode, text, pos)
    for text in ("[1, 2.0]", " 3 ", "[1] 2", "[NaN]", ""):
        assert _outcome(ours.decode, text) == _outcome(theirs.decode, text)


def test_dumps_special_values():
    for v in (math.inf, -math.inf, [math.nan], {"k": object()}, {1: 2}, "é\n\"", (1, 2)):
        assert _outcome(lean_json.dumps, v)[:2] == _outcome(lambda x: json.dumps(x, ensure_ascii=False), v)[:2]
    with pytest.raises(ValueError):
        lean_json.dumps_compact([math.inf])
