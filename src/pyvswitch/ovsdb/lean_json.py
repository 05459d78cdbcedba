"""JSON through CPython's C accelerator, without importing the json package.

The json package imports `re` (and with it enum, functools and collections)
and compiles regular expressions at import: several milliseconds at every
start of a command-line tool, more than the real ovs-vsctl spends on a whole
call.  Its work is done by the C module `_json` anyway: the scanner that
decodes and the encoder that serializes.  This module builds those directly.

Behaviour is json's, exactly: each function here does what the json call
named in its docstring does, results and errors alike.  The C scanner raises
json's own JSONDecodeError (it imports json for that), or StopIteration
where json's Python layer turns that into "Expecting value"; this module
does the same.  Errors are rare, and only they pay for importing json; so
do the inputs `loads` leaves to json (bytes in UTF-16 or UTF-32, a byte-order
mark).
"""

from __future__ import annotations

import _json

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class Decoder:
    """`json.JSONDecoder(parse_float=..., parse_int=..., parse_constant=...)`:
    its `decode` and `raw_decode`."""

    __slots__ = ("strict", "object_hook", "object_pairs_hook", "parse_float", "parse_int", "parse_constant",
                 "_scan")

    def __init__(self, *, parse_float=None, parse_int=None, parse_constant=None) -> None:
        # The C scanner reads these attributes once, when it is made.
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = parse_float or float
        self.parse_int = parse_int or int
        self.parse_constant = parse_constant or _CONSTANTS.__getitem__
        self._scan = _json.make_scanner(self)

    def raw_decode(self, s: str, idx: int = 0):
        """`JSONDecoder.raw_decode`: (value, end) of the JSON text at s[idx:]."""
        try:
            return self._scan(s, idx)
        except StopIteration as e:
            from json import JSONDecodeError
            raise JSONDecodeError("Expecting value", s, e.value) from None
        except SystemError:
            # CPython 3.11's scanner looks json.decoder up in sys.modules to raise
            # JSONDecodeError, and fails with SystemError when it is not there yet.
            import json.decoder  # noqa: F401
        try:
            return self._scan(s, idx)
        except StopIteration as e:
            from json import JSONDecodeError
            raise JSONDecodeError("Expecting value", s, e.value) from None

    def decode(self, s: str):
        """`JSONDecoder.decode`: the value of s, which holds one JSON text."""
        obj, end = self.raw_decode(s, len(s) - len(s.lstrip(_WS)))
        n = len(s)
        if end != n:
            rest = s[end:]
            end += len(rest) - len(rest.lstrip(_WS))
            if end != n:
                from json import JSONDecodeError
                raise JSONDecodeError("Extra data", s, end)
        return obj


_DECODER = Decoder()


def loads(s):
    """`json.loads(s)`, for str, bytes or bytearray."""
    if isinstance(s, (bytes, bytearray)):
        # json.loads guesses the encoding from the first bytes; an ASCII first
        # byte and a non-NUL second mean UTF-8 without a byte-order mark.
        if len(s) < 2 or not 0 < s[0] < 0x80 or not s[1]:
            import json
            return json.loads(s)
        s = s.decode("utf-8", "surrogatepass")
    elif not isinstance(s, str) or s.startswith("\ufeff"):
        import json
        return json.loads(s)
    return _DECODER.decode(s)


def _default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


encode_string = _json.encode_basestring
"""`json.encoder.encode_basestring`: a str as a JSON string, non-ASCII kept."""

_compact = _json.make_encoder(None, _default, encode_string, None, ":", ",", False, False, False)


def dumps_compact(value) -> str:
    """`json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
    check_circular=False)`: compact text, as OVS sends it."""
    return "".join(_compact(value, 0))


def dumps(value) -> str:
    """`json.dumps(value, ensure_ascii=False)`."""
    if isinstance(value, str):
        return encode_string(value)
    enc = _json.make_encoder({}, _default, encode_string, None, ": ", ", ", False, False, True)
    return "".join(enc(value, 0))
