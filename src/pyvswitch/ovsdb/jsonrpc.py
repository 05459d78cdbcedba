"""JSON-RPC 1.0 as OVSDB speaks it (RFC 7047 section 4), sans I/O.

OVSDB peers exchange a stream of JSON texts with nothing between them: no
length prefix, no newline.  `Framer.feed(bytes)` finds where each text ends
and returns the decoded messages; `encode(message)` gives the bytes to send.
Nothing here touches a socket or a clock.  Every OVSDB and unixctl peer in
pyvswitch (server, clients, IDL, unixctl) frames with this one `Framer`.

Design: `json`'s C decoder does the work.  Texts usually arrive whole,
several to a read, and between texts the framer decodes them in place with
`raw_decode`.  A text that does not decode is kept.  If the decoder stopped
at the end of the bytes (cut short: the rest is on its way), the framer
counts the brackets that arrive (C-speed `bytes.count`, strings not told
apart) and decodes the text again, from its start, once they all close or a
closing bracket is followed by anything but a comma or another closing
bracket (as where the next text begins).  That one retry is the whole cost
of a text cut across reads, unless its strings hold brackets and make the
count lie.  For that, and for a text the decoder calls invalid before its
end (it may be invalid, or cut where a decoder cannot tell, as "1." of
"1.5"), an exact incremental scan takes over: it follows brackets, strings
and escapes, keeping (depth, in-string) across calls, to find where the text
ends, and decoding the whole text then decides whether it is valid.  The
scan also takes over when a read ends in a closing bracket while the count
says the text is still open (it may be complete with brackets in its
strings), so no complete text waits for more bytes.  A byte of a text is
thus usually decoded once or twice, and at most three times and scanned
once.  UTF-8 never puts an ASCII byte inside a multi-byte character, so
scanning bytes is safe.

Invariants: `Framer` never returns a partial message.  A `JsonRpcError`
means the stream is unusable (the peer sent something that is not JSON, or
one text larger than `max_message`) and the session must be closed, as
ovsdb-server does; the error's `values` hold what the same call decoded
before the fault, in order, which ovsdb-server still acts on.
"""

from __future__ import annotations

from pyvswitch.ovsdb import lean_json

TYPE_CHECKING = False   # every ovsdb client imports this module: no typing or dataclasses at run time
if TYPE_CHECKING:
    from typing import Any, Union

_SPACE = b" \t\r\n"
_CLOSERS = b"}]"
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_DECODER = lean_json.Decoder()   # json.JSONDecoder(), without importing json (and re) at every tool start

# The patterns of the paths for texts cut across reads, compiled at first use
# (_compile_patterns): a command-line tool's replies usually arrive whole, and
# importing re costs its start milliseconds.
_STRUCTURAL = _STRING_SPECIAL = _AFTER_END = None


def _compile_patterns() -> None:
    global _STRUCTURAL, _STRING_SPECIAL, _AFTER_END
    import re
    _STRUCTURAL = re.compile(rb'[{}\[\]"\\]')
    _STRING_SPECIAL = re.compile(rb'["\\]')
    # Inside a text a closing bracket is followed by a comma or another closing
    # bracket; anything else after one (outside strings) means the text ended.
    _AFTER_END = re.compile(rb"[}\]][ \t\r\n]*[^,}\] \t\r\n]")

# The default limit on one message; ovsdb-server has none, but a peer that
# sends gigabytes of one unfinished text must not exhaust our memory.
DEFAULT_MAX_MESSAGE = 256 * 1024 * 1024


class JsonRpcError(Exception):
    """The peer sent bytes that are not a valid JSON-RPC message.  `values`:
    what the same call decoded before the fault, in order."""

    def __init__(self, text: str, values: list | None = None) -> None:
        super().__init__(text)
        self.values = [] if values is None else values


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
    """Splits a byte stream into JSON texts and decodes them (see the module
    docstring).  `decoder`: the `json.JSONDecoder` to decode with (the tools
    pass one that types numbers as OVS does); `max_message`: the largest
    text accepted, in bytes."""

    __slots__ = ("_partial", "_scan", "_depth", "_in_string", "max_message", "_raw_decode")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE, decoder: Any = None) -> None:
        self._partial: bytearray | None = None  # the start of a text cut short
        self._scan = -1          # -1: decode it again when complete; else the next byte to scan
        self._depth = 0          # its nesting depth: counted (decoding) or scanned
        self._in_string = False  # whether the scan is inside a string
        self.max_message = max_message
        self._raw_decode = (decoder or _DECODER).raw_decode

    def feed(self, data: bytes) -> list[Message]:
        """Adds bytes from the peer; returns every message they complete."""
        try:
            values = self.feed_json(data)
        except JsonRpcError as e:
            good: list = []
            for v in e.values:
                try:
                    good.append(parse_message(v))
                except JsonRpcError:
                    break
            e.values = good
            raise
        out: list[Message] = []
        for v in values:
            try:
                out.append(parse_message(v))
            except JsonRpcError as e:
                e.values = out
                raise
        return out

    def feed_json(self, data: bytes) -> list[Any]:
        """Like `feed`, but returns the decoded JSON values."""
        out: list = []
        partial = self._partial
        if partial is None:
            self._decode(data, out, False)
            return out
        start = len(partial)
        partial += data
        if len(partial) > self.max_message:
            raise JsonRpcError(f"message exceeds {self.max_message} bytes")
        if _AFTER_END is None:
            _compile_patterns()
        if self._scan < 0:
            self._depth += _net_brackets(data)
            while start > 1 and partial[start - 1] in _SPACE:
                start -= 1
            if self._depth <= 0 or _AFTER_END.search(partial, start - 1):
                self._partial = None
                self._decode(bytes(partial), out, True)
                return out
            i = len(partial) - 1
            while partial[i] in _SPACE:   # it starts with a bracket: i stays >= 0
                i -= 1
            if partial[i] not in _CLOSERS:
                return out
            # The count says more is to come, but strings may hold brackets.
            self._scan, self._depth, self._in_string = 0, 0, False
        self._scan_partial(out)
        return out

    @property
    def pending(self) -> int:
        """Bytes held that do not yet form a complete message."""
        return 0 if self._partial is None else len(self._partial)

    def _decode(self, data: bytes, out: list, retry: bool) -> None:
        """Decodes the texts in data into out and keeps an unfinished last
        one.  retry: data starts with the text kept the last time."""
        tail: bytes | None = b""
        try:
            text = data.decode()
        except UnicodeDecodeError as e:
            text = data[:e.start].decode()
            # A character cut in two at the end is still on its way; invalid
            # UTF-8 elsewhere ends the stream, after the texts before it.
            tail = data[e.start:] if e.reason == "unexpected end of data" else None
        raw_decode = self._raw_decode
        pos = 0
        n = len(text)
        while True:
            while pos < n and text[pos] in " \t\r\n":
                pos += 1
            if pos >= n:
                break
            if text[pos] not in "{[":
                raise JsonRpcError("syntax error: a JSON-RPC message must be a JSON object", out)
            try:
                value, pos2 = raw_decode(text, pos)
            except ValueError as e:
                if tail is None:
                    break
                rest = text[pos:].encode() + tail
                if len(rest) > self.max_message:
                    raise JsonRpcError(f"message exceeds {self.max_message} bytes", out) from None
                self._partial = bytearray(rest)
                if _truncated(e, text) and not (retry and pos == 0):
                    self._scan = -1
                    self._depth = _net_brackets(rest)
                else:
                    self._scan, self._depth, self._in_string = 0, 0, False
                    self._scan_partial(out)
                return
            out.append(value)
            pos = pos2
        if tail is None or tail:
            # Only ASCII stands between texts, so a character there is invalid.
            raise JsonRpcError("syntax error: invalid UTF-8", out)

    def _scan_partial(self, out: list) -> None:
        """Scans the kept text; once its end is found, decodes it whole into
        out and goes on with the bytes after it."""
        if _STRUCTURAL is None:
            _compile_patterns()
        buf = self._partial
        pos = self._scan
        depth = self._depth
        in_string = self._in_string
        n = len(buf)
        while pos < n:
            if in_string:
                m = _STRING_SPECIAL.search(buf, pos)
                if m is None:
                    pos = n
                    break
                if buf[m.start()] == 0x5C:  # a backslash escapes the next byte
                    if m.end() >= n:
                        pos = m.start()      # rescan it when its pair arrives
                        break
                    pos = m.end() + 1
                    continue
                in_string = False
                pos = m.end()
                continue
            m = _STRUCTURAL.search(buf, pos)
            if m is None:
                pos = n
                break
            c = buf[m.start()]
            pos = m.end()
            if c == 0x22:
                in_string = True
            elif c == 0x7B or c == 0x5B:
                depth += 1
            elif c == 0x7D or c == 0x5D:
                depth -= 1
                if depth == 0:
                    self._partial = None
                    self._scan = -1
                    out.append(self._decode_whole(bytes(buf[:pos]), out))
                    self._decode(bytes(buf[pos:]), out, False)
                    return
            # A backslash outside a string is invalid; decoding the text says so.
        self._scan, self._depth, self._in_string = pos, depth, in_string

    def _decode_whole(self, data: bytes, out: list) -> Any:
        try:
            text = data.decode()
            value, end = self._raw_decode(text, 0)
        except ValueError as e:   # UnicodeDecodeError is one
            raise JsonRpcError(f"syntax error: {e}", out) from None
        if end != len(text):
            raise JsonRpcError(f"syntax error: extra data at char {end}", out)
        return value


def _net_brackets(data: bytes) -> int:
    """Brackets opened less brackets closed, strings not told apart."""
    return data.count(b"{") + data.count(b"[") - data.count(b"}") - data.count(b"]")


def _truncated(e: ValueError, text: str) -> bool:
    """Whether the decoder's error can be just the end of the text being
    still on its way (rather than the text being invalid)."""
    pos = getattr(e, "pos", None)
    if pos is None:
        return False    # a decoder hook refused a value
    msg = e.msg
    rest = text[pos:].rstrip()
    if not rest or msg.startswith("Unterminated string"):
        return True
    if msg.startswith("Invalid \\uXXXX") and len(text) - pos <= 6:
        return True
    return any(lit.startswith(rest) for lit in _LITERALS)


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


# json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False), with the C
# encoder built once, without circular-reference markers (values made of JSON are never circular).
_dumps = lean_json.dumps_compact


def encode(msg: Message) -> bytes:
    return _dumps(to_json(msg)).encode()


def dumps(value: Any) -> str:
    """Compact JSON text, as OVS writes it (no spaces, UTF-8 kept)."""
    return _dumps(value)
