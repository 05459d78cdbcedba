"""OVSDB errors as RFC 7047 puts them on the wire.

Every failure the engine reports to a peer is an `OvsdbError`: an error tag
such as "syntax error", "constraint violation" or "referential integrity
violation", an optional human-readable "details" string, and, for syntax
errors, the offending JSON text in a "syntax" member (a field ovsdb-server adds
beyond the RFC).  The words are ovsdb-server 3.1's, so that clients which match
on them keep working.
"""

from __future__ import annotations

from pyvswitch.ovsdb.lean_json import dumps as _dumps

TYPE_CHECKING = False   # importing typing costs every ovs-vsctl call milliseconds
if TYPE_CHECKING:
    from typing import Any


class OvsdbError(Exception):
    """An RFC 7047 error object: `error` tag, optional `details` and `syntax`."""

    def __init__(self, error: str, details: str | None = None, syntax: str | None = None) -> None:
        super().__init__(error if details is None else f"{error}: {details}")
        self.error = error
        self.details = details
        self.syntax = syntax

    def to_json(self) -> dict:
        j: dict[str, Any] = {"error": self.error}
        if self.details is not None:
            j["details"] = self.details
        if self.syntax is not None:
            j["syntax"] = self.syntax
        return j

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OvsdbError) and self.to_json() == other.to_json()

    __hash__ = Exception.__hash__


class _Raw(str):
    """Text already in JSON form (a bracket, a comma, a key and its colon)."""


def json_text(value: Any) -> str:
    """JSON text the way OVS renders a value inside an error message: compact,
    object members sorted, reals with 15 significant digits.  Iterative, so that
    a deeply nested value from a peer cannot exhaust the stack."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if type(v) is _Raw:
            out.append(v)
        elif isinstance(v, list):
            out.append("[")
            stack.append(_Raw("]"))
            for k in range(len(v) - 1, -1, -1):
                stack.append(v[k])
                if k:
                    stack.append(_Raw(","))
        elif isinstance(v, dict):
            out.append("{")
            stack.append(_Raw("}"))
            keys = sorted(v)
            for k in range(len(keys) - 1, -1, -1):
                stack.append(v[keys[k]])
                stack.append(_Raw(_dumps(keys[k]) + ":"))
                if k:
                    stack.append(_Raw(","))
        elif isinstance(v, float):
            out.append("%d" % v if v.is_integer() and abs(v) < 2.0 ** 63 else "%.15g" % v)
        else:
            out.append(_dumps(v))
    return "".join(out)
