"""JSON read as OVS's parser reads it.

OVS's parser types a number by its value, not by how it is written: one that
is integral and fits in 64 bits is an integer even when written `2.0` or
`1e3`; others are reals, and a number a double cannot hold (too large, or
too small to be normal) is an error.  Its keywords are only true, false and
null.  The tools decode what servers send this way, so that what they print
back matches what the real tools print.

`DECODER` is a json.JSONDecoder-alike (pyvswitch.ovsdb.lean_json's, so the
json package is not imported) with these rules as its number and constant
hooks; its raw_decode serves the clients' stream framing.  `json_loads`
decodes one text.  This module is on every tool's import path; decimal, for
the rare number with a fraction or an exponent, is imported only for one.
"""

from __future__ import annotations

import math

from pyvswitch.ovsdb.lean_json import Decoder

TYPE_CHECKING = False   # typing costs a tool's start milliseconds
if TYPE_CHECKING:
    from typing import Any

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_DBL_MIN = 2.2250738585072014e-308


class NumberOutOfRange(ValueError):
    """A JSON number OVS cannot represent; args[0] is its text."""


def _parse_number(s: str) -> int | float:
    from decimal import Decimal, InvalidOperation  # only numbers with a fraction or exponent come here

    try:
        d = Decimal(s)
        if d == d.to_integral_value() and _INT64_MIN <= d <= _INT64_MAX:
            return int(d)
    except (InvalidOperation, OverflowError):
        pass
    x = float(s)
    if x in (math.inf, -math.inf) or (x and abs(x) < _DBL_MIN):
        raise NumberOutOfRange(s)
    return x


def _parse_int(s: str) -> int | float:
    n = int(s)
    if _INT64_MIN <= n <= _INT64_MAX:
        return n
    return _parse_number(s)


def _reject_constant(s: str) -> Any:
    raise ValueError(f"invalid keyword '{s}'")


DECODER = Decoder(parse_float=_parse_number, parse_int=_parse_int, parse_constant=_reject_constant)


def json_loads(text: str | bytes) -> Any:
    """Parses one JSON text as OVS's parser types it (see the module doc).

    Raises ValueError for malformed text or a number out of range."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode()
    return DECODER.decode(text)
