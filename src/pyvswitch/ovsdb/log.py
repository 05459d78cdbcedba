"""OVSDB's standalone log file format: framing, reading, appending.

A standalone database file is a sequence of records.  Each record is a header
line and a JSON text:

    OVSDB JSON <length> <sha1>\\n
    <length bytes: one compact JSON object, then "\\n">

`<length>` counts the data bytes including the trailing newline, and `<sha1>`
is the lowercase hex SHA-1 of exactly those bytes.  The first record holds the
database schema; each later record is one committed transaction (or, after
compaction, one snapshot of the whole database).  The reference ovsdb-server
and ovsdb-tool read and write exactly this layout, so files move freely
between them and us.

Reading (`parse_log`) is a pure function of the file's bytes: it returns every
record up to the first one that is torn or corrupt (bad header, short data,
SHA-1 mismatch, bad JSON, not an object) and a `LogError` saying why, in the
words OVS uses, together with the offset where the good prefix ends.  A crash
in the middle of an append leaves exactly such a torn tail; the opener reports
it and truncates the file there before writing again, so nothing committed
before the crash is lost and nothing half-written is ever replayed.

Writing (`LogWriter`) appends whole records with `os.write` on an unbuffered
descriptor: once `write` returns, the bytes are in the kernel and survive a
crash of this process.  `fsync` is issued only when asked to (a transaction
that requested durability, or a compaction).  Several records handed over
together are encoded into one buffer and written with one system call (group
commit), which is what makes a busy server fast.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable

from pyvswitch.ovsdb.jsonrpc import dumps
# The order in which OVS walks a JSON object's members (show-log prints in it).
from pyvswitch.ovsdb.member_order import ovs_member_order, ovs_string_hash  # noqa: F401

MAGIC = "OVSDB JSON"
CLUSTER_MAGIC = "OVSDB CLUSTER"

# "<magic> <length> <40 hex digits>\n": magic is one or more words; the
# length and hash are the last two space-separated fields.
_HEADER = re.compile(rb"([A-Z][A-Z ]*?) +([0-9]+) ([0-9a-f]{40})\n")
_MAX_HEADER = 1024


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One good record: its decoded JSON and the byte range it occupies."""

    offset: int      # where its header line starts
    end: int         # just past its data
    value: Any


@dataclass(frozen=True, slots=True)
class LogError:
    """Why reading stopped, in ovsdb-tool's words: `str(e)` is the full message."""

    kind: str        # "I/O error", "syntax error" or "ovsdb error"
    path: str
    text: str
    offset: int      # the good prefix ends here; the file is truncated to it

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.text}"


def encode_record(value: Any) -> bytes:
    """The bytes of one record: header line plus compact JSON plus newline."""
    data = (dumps(value) + "\n").encode()
    return b"OVSDB JSON %d %s\n%s" % (len(data), hashlib.sha1(data).hexdigest().encode(), data)


def encode_records(values: Iterable[Any]) -> bytes:
    return b"".join(encode_record(v) for v in values)


def identify(data: bytes, path: str) -> LogError | None:
    """Checks that data starts like a standalone database file."""
    if not data:
        return LogError("ovsdb error", path, "cannot identify file type", 0)
    nl = data.find(b"\n", 0, _MAX_HEADER)
    m = _HEADER.fullmatch(data, 0, nl + 1) if nl >= 0 else None
    if m is None:
        return LogError("ovsdb error", path, "unexpected file format", 0)
    magic = m.group(1).decode()
    if magic == CLUSTER_MAGIC:
        return LogError("ovsdb error", path, "cannot apply this operation to clustered database file", 0)
    if magic != MAGIC:
        return LogError("ovsdb error", path, "cannot identify file type", 0)
    return None


def parse_log(data: bytes, path: str) -> tuple[list[LogRecord], LogError | None]:
    """Every good record of a standalone log, and why reading stopped early (or None)."""
    err = identify(data, path)
    if err is not None:
        return [], err
    records: list[LogRecord] = []
    pos = 0
    n = len(data)
    view = memoryview(data)
    while pos < n:
        nl = data.find(b"\n", pos, pos + _MAX_HEADER)
        m = _HEADER.fullmatch(data, pos, nl + 1) if nl >= 0 else None
        if m is None or m.group(1) != MAGIC.encode():
            line = data[pos:nl if nl >= 0 else min(n, pos + _MAX_HEADER)]
            line = line.decode(errors="replace").rstrip("\r\n")
            return records, LogError("syntax error", path,
                                     f'parse error at offset {pos} in header line "{line}"', pos)
        length = int(m.group(2))
        start = nl + 1
        if start + length > n:
            return records, LogError("I/O error", path,
                                     f"error reading {length} bytes starting at offset {start} (End of file)",
                                     pos)
        body = view[start:start + length]
        digest = hashlib.sha1(body).hexdigest()
        expected = m.group(3).decode()
        if digest != expected:
            return records, LogError("syntax error", path,
                                     f"{length} bytes starting at offset {start} have SHA-1 hash {digest} "
                                     f"but should have hash {expected}", pos)
        try:
            value = ovs_json_loads(bytes(body))
        except OvsJsonError as e:
            return records, LogError("syntax error", path,
                                     f"{length} bytes starting at offset {start} are not valid JSON ({e})", pos)
        if not isinstance(value, dict):
            return records, LogError("syntax error", path,
                                     f"{length} bytes starting at offset {start} are not a JSON object", pos)
        records.append(LogRecord(pos, start + length, value))
        pos = start + length
    return records, None


class OvsJsonError(ValueError):
    """Text OVS would not accept as JSON; str() is OVS's description."""


def ovs_json_loads(text: bytes | str) -> Any:
    """Parses a JSON text as OVS does: the top level must be an object or an
    array.  Raises OvsJsonError with OVS's wording."""
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise OvsJsonError(json_error_text(text)) from None
    if not isinstance(value, (dict, list)):
        raise OvsJsonError(json_error_text(text))
    return value


def json_error_text(text: bytes | str) -> str:
    """Why text is not JSON, worded and positioned as OVS's parser words it:
    "line L, column C, byte B: <what>", zero-based, at the byte whose arrival
    revealed the error.  Returns "" when text is valid JSON."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    try:
        _OvsJsonChecker(data).check()
    except _JsonSyntax as e:
        line = data.count(b"\n", 0, e.pos)
        col = e.pos - (data.rfind(b"\n", 0, e.pos) + 1)
        return f"line {line}, column {col}, byte {e.pos}: {e.what}"
    return ""


class _JsonSyntax(Exception):
    def __init__(self, pos: int, what: str) -> None:
        self.pos = pos
        self.what = what


_TOKEN = re.compile(rb"""
    (?P<ws>[ \t\r\n]+)
  | (?P<punct>[\[\]{}:,])
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?[0-9][0-9.eE+-]*|-)
  | (?P<keyword>[A-Za-z]+)
""", re.X | re.S)


class _OvsJsonChecker:
    """A validating JSON parser used only to describe errors the OVS way."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _next(self) -> tuple[str, bytes, int]:
        """The next token (kind, text, where-reported); "eof" at the end."""
        data = self.data
        n = len(data)
        while True:
            if self.pos >= n:
                return "eof", b"", n
            m = _TOKEN.match(data, self.pos)
            if m is None:
                if data[self.pos:self.pos + 1] == b'"':
                    raise _JsonSyntax(n, "unexpected end of input in quoted string")
                raise _JsonSyntax(self.pos, f"invalid character '{chr(data[self.pos])}'")
            kind = m.lastgroup
            self.pos = m.end()
            if kind == "ws":
                continue
            if kind == "punct":
                return kind, m.group(), m.start()
            if kind == "string":
                try:
                    json.loads(m.group())
                except ValueError:
                    bad = re.search(rb'\\[^"\\/bfnrtu]', m.group())
                    what = f"bad escape {bad.group().decode(errors='replace')}" if bad else "invalid string"
                    raise _JsonSyntax(m.end() - 1, what) from None
                return kind, m.group(), m.end() - 1
            if kind == "keyword":
                word = m.group()
                if word not in (b"true", b"false", b"null"):
                    raise _JsonSyntax(m.end(), f"invalid keyword '{word.decode()}'")
                return kind, word, m.end()
            if m.group() == b"-":
                raise _JsonSyntax(m.end(), "'-' must be followed by digit")
            try:
                json.loads(m.group())
            except ValueError:
                raise _JsonSyntax(m.end(), "syntax error in number") from None
            return kind, m.group(), m.end()

    def _eof_pos(self, last_kind: str) -> int:
        # At the end OVS feeds one more byte to finish a pending number or
        # keyword, and counts it.
        return len(self.data) + (1 if last_kind in ("number", "keyword") else 0)

    def check(self) -> None:
        kind, tok, at = self._next()
        if kind == "eof":
            raise _JsonSyntax(len(self.data), "empty input stream")
        if kind != "punct" or tok not in b"[{":
            raise _JsonSyntax(at, "syntax error at beginning of input")
        self._value(kind, tok, at)
        kind, tok, at = self._next()
        if kind != "eof":
            raise _JsonSyntax(at, "trailing garbage at end of input")

    def _value(self, kind: str, tok: bytes, at: int) -> str:
        """Parses one value starting with the given token; returns the kind
        of its last token."""
        if kind in ("string", "number", "keyword"):
            return kind
        if kind == "eof":
            raise _JsonSyntax(at, "unexpected end of input")
        if tok == b"[":
            kind, tok, at = self._next()
            if tok == b"]":
                return "punct"
            while True:
                last = self._value(kind, tok, at) if kind != "eof" else self._eof(last_kind="punct")
                kind, tok, at = self._next()
                if kind == "eof":
                    self._eof(last)
                if tok == b"]":
                    return "punct"
                if tok != b",":
                    raise _JsonSyntax(at, "syntax error expecting ']' or ','")
                kind, tok, at = self._next()
                if kind == "eof":
                    self._eof("punct")
                if kind == "punct" and tok not in b"[{":
                    raise _JsonSyntax(at, "syntax error expecting value")
        if tok == b"{":
            kind, tok, at = self._next()
            if tok == b"}":
                return "punct"
            while True:
                if kind == "eof":
                    self._eof("punct")
                if kind != "string":
                    raise _JsonSyntax(at, "syntax error parsing object expecting string")
                kind, tok, at = self._next()
                if kind == "eof":
                    self._eof("string")
                if tok != b":":
                    raise _JsonSyntax(at, "syntax error parsing object expecting ':'")
                kind, tok, at = self._next()
                if kind == "eof":
                    self._eof("punct")
                if kind == "punct" and tok not in b"[{":
                    raise _JsonSyntax(at, "syntax error expecting value")
                last = self._value(kind, tok, at)
                kind, tok, at = self._next()
                if kind == "eof":
                    self._eof(last)
                if tok == b"}":
                    return "punct"
                if tok != b",":
                    raise _JsonSyntax(at, "syntax error expecting '}' or ','")
                kind, tok, at = self._next()
        raise _JsonSyntax(at, "syntax error expecting value")

    def _eof(self, last_kind: str) -> str:
        raise _JsonSyntax(self._eof_pos(last_kind), "unexpected end of input")


class LogWriter:
    """Appends records to an open log file descriptor, unbuffered.

    `offset` is the file size as this writer knows it; a failed write leaves
    the file truncated back to it, so a later append never follows garbage.
    """

    __slots__ = ("fd", "path", "offset", "records_written", "bytes_written")

    def __init__(self, fd: int, path: str, offset: int) -> None:
        self.fd = fd
        self.path = path
        self.offset = offset
        self.records_written = 0
        self.bytes_written = 0

    def append(self, values: list[Any], durable: bool = False) -> None:
        """Writes the records in one system call; fsyncs when durable.

        Raises OSError on failure, after trying to remove the partial write."""
        if not values:
            if durable:
                os.fsync(self.fd)
            return
        buf = encode_record(values[0]) if len(values) == 1 else encode_records(values)
        try:
            self._write_all(buf)
        except OSError:
            try:
                os.ftruncate(self.fd, self.offset)
            except OSError:
                pass
            raise
        self.offset += len(buf)
        self.records_written += len(values)
        self.bytes_written += len(buf)
        if durable:
            os.fsync(self.fd)

    def _write_all(self, buf: bytes) -> None:
        n = os.pwrite(self.fd, buf, self.offset)
        if n == len(buf):
            return
        if n <= 0:
            raise OSError(errno.EIO, "short write")
        view = memoryview(buf)[n:]
        pos = self.offset + n
        while view:
            n = os.pwrite(self.fd, view, pos)
            if n <= 0:
                raise OSError(errno.EIO, "short write")
            view = view[n:]
            pos += n

    def sync(self) -> None:
        os.fsync(self.fd)
