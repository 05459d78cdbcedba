"""OVSDB errors as RFC 7047 puts them on the wire.

Every failure the engine reports to a peer is an `OvsdbError`: an error tag
such as "syntax error", "constraint violation" or "referential integrity
violation", an optional human-readable "details" string, and, for syntax
errors, the offending JSON text in a "syntax" member (a field ovsdb-server adds
beyond the RFC).  The words are ovsdb-server 3.1's, so that clients which match
on them keep working.
"""

from __future__ import annotations

import json
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


def json_text(value: Any) -> str:
    """JSON text the way OVS renders a value inside an error message: compact,
    object members sorted, reals with 15 significant digits."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2.0 ** 63:
            return "%d" % value
        return "%.15g" % value
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + json_text(value[k])
                              for k in sorted(value)) + "}"
    return json.dumps(value, ensure_ascii=False)

