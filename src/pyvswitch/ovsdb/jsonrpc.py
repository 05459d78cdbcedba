"""JSON-RPC 1.0 as OVSDB speaks it (RFC 7047 section 4), sans I/O.

OVSDB peers exchange a stream of JSON texts with nothing between them: no
length prefix, no newline.  `Framer.feed(bytes)` finds where each text ends
and returns the decoded messages; `encode(message)` gives the bytes to send.
Nothing here touches a socket or a clock.

Design: the framer scans only the bytes that matter for finding an end --
braces, brackets, quotes and backslashes -- with one compiled regular
expression, keeping (depth, in-string) state across calls, so a large reply
arriving in many chunks costs one pass over its bytes and one `json.loads`.
UTF-8 never puts an ASCII byte inside a multi-byte character, so scanning
bytes is safe.

Invariants: `Framer` never returns a partial message; after a
`JsonRpcError` the stream is unusable (the peer sent something that is not
JSON) and the session must be closed, as ovsdb-server does.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False   # every ovsdb client imports this module: no typing or dataclasses at run time
if TYPE_CHECKING:
    from typing import Any, Union

_STRUCTURAL = re.compile(rb'[{}\[\]"\\]')
_STRING_SPECIAL = re.compile(rb'["\\]')

# The default limit on one message; ovsdb-server has none, but a peer that
# sends gigabytes of one unfinished text must not exhaust our memory.
DEFAULT_MAX_MESSAGE = 256 * 1024 * 1024


class JsonRpcError(Exception):
    """The peer sent bytes that are not a valid JSON-RPC message."""


class _Message:
    """Immutable, with the init, equality, hash, repr and match arguments a
    frozen dataclass of `__slots__` would have (written out: importing
    dataclasses costs a command-line client more than its whole call)."""

    __slots__ = ()

    def _key(self) -> tuple:
        return tuple([getattr(self, f) for f in self.__slots__])

    def __eq__(self, other):
        return self._key() == other._key() if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__) + ")"

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete field '{name}'")


class Request(_Message):
    __slots__ = __match_args__ = ("method", "params", "id")
    method: str
    params: list
    id: Any

    def __init__(self, method: str, params: list, id: Any) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "id", id)


class Notification(_Message):
    __slots__ = __match_args__ = ("method", "params")
    method: str
    params: list

    def __init__(self, method: str, params: list) -> None:
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "params", params)


class Reply(_Message):
    __slots__ = __match_args__ = ("result", "id")
    result: Any
    id: Any

    def __init__(self, result: Any, id: Any) -> None:
        object.__setattr__(self, "result", result)
        object.__setattr__(self, "id", id)


class ErrorReply(_Message):
    __slots__ = __match_args__ = ("error", "id")
    error: Any
    id: Any

    def __init__(self, error: Any, id: Any) -> None:
        object.__setattr__(self, "error", error)
        object.__setattr__(self, "id", id)


if TYPE_CHECKING:
    Message = Union[Request, Notification, Reply, ErrorReply]


class Framer:
    """Splits a byte stream into JSON texts and decodes them into messages."""

    __slots__ = ("_buf", "_scan", "_depth", "_in_string", "_start", "max_message")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._scan = 0          # next byte of _buf to scan
        self._depth = 0         # nesting depth of the text being scanned
        self._in_string = False
        self._start = -1        # where the current text starts, -1 if between texts
        self.max_message = max_message

    def feed(self, data: bytes) -> list[Message]:
        """Adds bytes from the peer; returns every message they complete."""
        self._buf += data
        out: list[Message] = []
        for text in self._texts():
            out.append(parse_message(text))
        if self._start >= 0 and len(self._buf) - self._start > self.max_message:
            raise JsonRpcError(f"message exceeds {self.max_message} bytes")
        return out

    def feed_json(self, data: bytes) -> list[Any]:
        """Like `feed`, but returns the raw decoded JSON values."""
        self._buf += data
        return list(self._texts())

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a complete message."""
        return len(self._buf)

    def _texts(self):
        buf = self._buf
        pos = self._scan
        n = len(buf)
        ends: list[tuple[int, int]] = []
        while pos < n:
            if self._start < 0:
                # Between texts: skip white space; anything else starts a text.
                while pos < n and buf[pos] in b" \t\r\n":
                    pos += 1
                if pos >= n:
                    break
                c = buf[pos]
                if c not in b"{[":
                    raise JsonRpcError("syntax error: a JSON-RPC message must be a JSON object")
                self._start = pos
            if self._in_string:
                m = _STRING_SPECIAL.search(buf, pos)
                if m is None:
                    pos = n
                    break
                if m.group() == b"\\":
                    if m.end() >= n:
                        pos = m.start()  # rescan the backslash when its pair arrives
                        break
                    pos = m.end() + 1
                    continue
                self._in_string = False
                pos = m.end()
                continue
            m = _STRUCTURAL.search(buf, pos)
            if m is None:
                pos = n
                break
            c = m.group()
            pos = m.end()
            if c == b'"':
                self._in_string = True
            elif c in b"{[":
                self._depth += 1
            elif c in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    ends.append((self._start, pos))
                    self._start = -1
                elif self._depth < 0:
                    raise JsonRpcError("syntax error: unbalanced brackets")
            # A lone backslash outside a string is invalid JSON; json.loads says so.
        self._scan = pos
        if ends:
            last = ends[-1][1]
            texts = [bytes(buf[a:b]) for a, b in ends]
            del buf[:last]
            self._scan -= last
            if self._start >= 0:
                self._start -= last
        else:
            texts = []
        for t in texts:
            try:
                yield json.loads(t)
            except (ValueError, UnicodeDecodeError) as e:
                raise JsonRpcError(f"syntax error: {e}") from None


def parse_message(obj: Any) -> Message:
    """Classifies one decoded JSON value as a JSON-RPC message (RFC 7047 4.1)."""
    if not isinstance(obj, dict):
        raise JsonRpcError("message is not a JSON object")
    if "method" in obj:
        method = obj["method"]
        params = obj.get("params")
        if not isinstance(method, str):
            raise JsonRpcError('"method" member is not a string')
        if not isinstance(params, list):
            raise JsonRpcError('"params" member is not a JSON array')
        if len(obj) > 2 + ("id" in obj):
            extra = set(obj) - {"method", "params", "id"}
            raise JsonRpcError(f'message has unexpected member "{sorted(extra)[0]}"')
        ident = obj.get("id")
        if ident is None:
            return Notification(method, params)
        return Request(method, params, ident)
    if "result" in obj or "error" in obj:
        if "id" not in obj:
            raise JsonRpcError('reply lacks "id" member')
        error = obj.get("error")
        if error is not None:
            return ErrorReply(error, obj["id"])
        if "result" not in obj:
            raise JsonRpcError('reply lacks "result" member')
        return Reply(obj["result"], obj["id"])
    raise JsonRpcError("message is not a JSON-RPC request, notification or reply")


def to_json(msg: Message) -> dict:
    if isinstance(msg, Request):
        return {"method": msg.method, "params": msg.params, "id": msg.id}
    if isinstance(msg, Notification):
        return {"method": msg.method, "params": msg.params, "id": None}
    if isinstance(msg, Reply):
        return {"result": msg.result, "error": None, "id": msg.id}
    return {"result": None, "error": msg.error, "id": msg.id}


_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_dumps = _encoder.encode
try:
    from json.encoder import c_make_encoder as _c_make_encoder, encode_basestring as _encode_str
except ImportError:  # pragma: no cover - CPython always has the C encoder
    _c_make_encoder = None
if _c_make_encoder is not None:
    # `JSONEncoder.encode` builds the same C encoder on every call; build it once.
    # No circular-reference markers: values made of JSON are never circular.
    _c_encode = _c_make_encoder(None, _encoder.default, _encode_str, None, ":", ",", False, False, False)

    def _dumps(value: Any, _join="".join, _enc=_c_encode) -> str:
        return _join(_enc(value, 0))


def encode(msg: Message) -> bytes:
    return _dumps(to_json(msg)).encode()


def dumps(value: Any) -> str:
    """Compact JSON text, as OVS writes it (no spaces, UTF-8 kept)."""
    return _dumps(value)
