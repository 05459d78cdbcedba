"""OVS's table output: the formats ovsdb-client and ovs-vsctl print.

A `Table` is a caption, column headings and rows of cells.  A cell is either
plain text (a `str`) or a `Datum` (a column type and an engine value, see
pyvswitch.ovsdb.types), which is rendered according to the cell format:

- "string": OVS's text syntax (`[1, 2]`, `{k=v}`, quoted strings),
- "bare": atoms only, separated by spaces, maps as `k=v`, strings unquoted,
- "json": the RFC 7047 JSON of the value, compact.

`TablePrinter(style).format(table)` returns the text of one table in the
output format ("table", "list", "html", "csv" or "json").  A printer is meant
to live as long as the output stream: like OVS, it separates consecutive
tables (blank line before every table but the first, in the text formats).
Widths in the "table" format count bytes of UTF-8, as OVS does.

`json_to_string` writes JSON the way OVS's serializer does: compact, reals
with 15 significant digits, optionally sorted keys and OVS's "pretty" layout
(one value per line, closing brackets at the end of the last line).
`json_loads` (pyvswitch.ovsdb.ovs_json's) parses JSON as OVS's parser does: a
number that is integral and fits in 64 bits is an integer even when written
`2.0` or `1e3`.
"""

from __future__ import annotations


TYPE_CHECKING = False   # this module is on every client's import path: no typing or dataclasses at run time
if TYPE_CHECKING:
    from typing import Any

from pyvswitch.ovsdb.datum_text import datum_to_bare
from pyvswitch.ovsdb.lean_json import encode_string as _encode_string
# Reading as OVS reads, for the readers that import it from here with the printing.
from pyvswitch.ovsdb.ovs_json import DECODER as JSON_DECODER, NumberOutOfRange, json_loads  # noqa: F401

FORMATS = ("table", "list", "html", "csv", "json")
CELL_FORMATS = ("string", "bare", "json")

_UUID_PREFIX = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


# --- JSON as OVS writes and reads it ---

def format_real(x: float) -> str:
    """A real as OVS prints it (15 significant digits, C's %g)."""
    return "%.15g" % x


def json_to_string(value: Any, *, pretty: bool = False, sort_keys: bool = False) -> str:
    """Serializes a JSON value (dict, list, str, int, float, bool, None) like OVS."""
    out: list[str] = []
    _serialize(value, out, 0 if pretty else -1, sort_keys)
    return "".join(out)


def _serialize(v: Any, out: list[str], depth: int, sort_keys: bool) -> None:
    # depth < 0 means compact output; otherwise the current indentation level.
    if isinstance(v, str):
        out.append(_encode_string(v))
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif v is None:
        out.append("null")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(format_real(v))
    elif isinstance(v, (list, tuple)):
        out.append("[")
        inner = depth + 1 if depth >= 0 else -1
        for i, x in enumerate(v):
            if i:
                out.append(",")
            if inner >= 0:
                out.append("\n" + "  " * inner)
            _serialize(x, out, inner, sort_keys)
        out.append("]")
    elif isinstance(v, dict):
        out.append("{")
        inner = depth + 1 if depth >= 0 else -1
        if not v and inner >= 0:
            # OVS breaks the line even in an empty object: "{\n    }".
            out.append("\n" + "  " * inner)
        items = sorted(v.items()) if sort_keys else v.items()
        for i, (k, x) in enumerate(items):
            if i:
                out.append(",")
            if inner >= 0:
                out.append("\n" + "  " * inner)
            out.append(_encode_string(k))
            out.append(": " if inner >= 0 else ":")
            _serialize(x, out, inner, sort_keys)
        out.append("}")
    else:
        raise TypeError(f"cannot serialize {type(v).__name__} as JSON")


# --- cells ---

class _Value:
    """Equality, hash and repr from `__slots__`, as a dataclass would give."""

    __slots__ = ()

    def _key(self) -> tuple:
        return tuple([getattr(self, f) for f in self.__slots__])

    def __eq__(self, other):
        return self._key() == other._key() if other.__class__ is self.__class__ else NotImplemented

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__) + ")"


class _Frozen(_Value):
    __slots__ = ()

    def __init__(self, *args, **kwargs) -> None:
        values = dict(zip(self.__slots__, self._defaults))
        values.update(zip(self.__slots__, args))
        for name, v in kwargs.items():
            if name not in values:
                raise TypeError(f"{type(self).__qualname__}() got an unexpected keyword argument '{name}'")
            values[name] = v
        if len(values) < len(self.__slots__):
            missing = [f for f in self.__slots__ if f not in values]
            raise TypeError(f"{type(self).__qualname__}() missing required arguments: {', '.join(missing)}")
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")


class Datum(_Frozen):
    """A cell holding a column value: `type` is a types.Type, `value` an engine value."""
    __slots__ = ("type", "value")
    _defaults = ()
    type: Any
    value: Any

    def to_json(self) -> Any:
        return self.type.datum_to_json(self.value)

    def to_text(self, cell_format: str) -> str:
        if cell_format == "json":
            return json_to_string(self.to_json())
        if cell_format == "bare":
            return datum_to_bare(self.type, self.value)
        return self.type.datum_to_string(self.value)


class JsonCell(_Frozen):
    """A cell holding any JSON value, shown as compact sorted JSON text in
    every cell format (as ovsdb-client shows column types)."""
    __slots__ = ("json",)
    _defaults = ()
    json: Any

    def to_json(self) -> Any:
        return self.json

    def to_text(self, cell_format: str) -> str:
        return json_to_string(self.json, sort_keys=True)


Cell = object  # str | Datum | JsonCell | None (an empty cell: "", or null in JSON)


def cell_text(cell: Cell, cell_format: str) -> str:
    if cell is None:
        return ""
    return cell if isinstance(cell, str) else cell.to_text(cell_format)


def cell_json(cell: Cell) -> Any:
    if cell is None:
        return None
    return cell if isinstance(cell, str) else cell.to_json()


# --- tables ---

class Style(_Frozen):
    """How to print: output format, cell format, headings, JSON layout."""
    __slots__ = ("format", "cell", "headings", "pretty")
    _defaults = ("table", "string", True, False)
    format: str       # table | list | html | csv | json
    cell: str         # string | bare | json
    headings: bool
    pretty: bool      # json format: OVS's indented layout


class Table(_Value):
    __slots__ = ("headings", "rows", "caption", "timestamp")
    __hash__ = None

    def __init__(self, headings: list[str], rows: list[list[Cell]] | None = None, caption: str | None = None,
                 timestamp: str | None = None) -> None:
        self.headings = headings
        self.rows = [] if rows is None else rows
        self.caption = caption
        self.timestamp = timestamp   # printed above the table (monitor --timestamp)

    def add_row(self, cells: list[Cell]) -> None:
        self.rows.append(cells)


class TablePrinter:
    """Formats tables for one output stream (see module doc)."""

    __slots__ = ("style", "n_tables")

    def __init__(self, style: Style = Style()) -> None:
        self.style = style
        self.n_tables = 0

    def format(self, table: Table) -> str:
        fmt = self.style.format
        if fmt == "json":
            text = self._json(table)
        else:
            text = getattr(self, "_" + fmt)(table)
        self.n_tables += 1
        return text

    def _texts(self, table: Table) -> list[list[str]]:
        cf = self.style.cell
        return [[cell_text(c, cf) for c in row] for row in table.rows]

    def _preamble(self, table: Table) -> list[str]:
        out = ["\n"] if self.n_tables else []
        if table.timestamp is not None:
            out.append(table.timestamp + "\n")
        if table.caption is not None:
            out.append(table.caption + "\n")
        return out

    def _table(self, table: Table) -> str:
        out = self._preamble(table)
        rows = [[t.encode() for t in row] for row in self._texts(table)]
        heads = [h.encode() for h in table.headings]
        widths = [len(h) if self.style.headings else 0 for h in heads]
        for row in rows:
            for i, t in enumerate(row):
                if len(t) > widths[i]:
                    widths[i] = len(t)

        def line(cells: list[bytes]) -> str:
            last = len(cells) - 1
            parts = [c if i == last else c.ljust(widths[i]) for i, c in enumerate(cells)]
            return b" ".join(parts).rstrip(b" ").decode() + "\n"
        if self.style.headings:
            out.append(line(heads))
            out.append(line([b"-" * w for w in widths]))
        out.extend(line(r) for r in rows)
        return "".join(out)

    def _list(self, table: Table) -> str:
        out = self._preamble(table)
        headings = self.style.headings
        for i, row in enumerate(self._texts(table)):
            if i:
                out.append("\n")
            for h, t in zip(table.headings, row):
                out.append(f"{h:<20}: {t}\n" if headings else t + "\n")
        return "".join(out)

    def _csv(self, table: Table) -> str:
        out = self._preamble(table)
        if self.style.headings:
            out.append(",".join(_csv_escape(h) for h in table.headings) + "\n")
        for row in self._texts(table):
            out.append(",".join(_csv_escape(t) for t in row) + "\n")
        return "".join(out)

    def _html(self, table: Table) -> str:
        out = [] if table.timestamp is None else [table.timestamp + "\n"]
        out.append("<table border=1>\n")
        if table.caption is not None:
            out.append(f"    <caption>{_html_escape(table.caption)}</caption>\n")
        if self.style.headings:
            out.append("  <tr>\n")
            out.extend(f"    <th>{_html_escape(h)}</th>\n" for h in table.headings)
            out.append("  </tr>\n")
        for row in self._texts(table):
            out.append("  <tr>\n")
            for h, t in zip(table.headings, row):
                if h == "_uuid":
                    out.append(f'    <td><a name="{_html_escape(t)}">{_html_escape(t[:8])}</a></td>\n')
                else:
                    out.append(f"    <td>{_html_cell(t)}</td>\n")
            out.append("  </tr>\n")
        out.append("</table>\n")
        return "".join(out)

    def _json(self, table: Table) -> str:
        j: dict[str, Any] = {}
        if table.caption is not None:
            j["caption"] = table.caption
        j["data"] = [[cell_json(c) for c in row] for row in table.rows]
        j["headings"] = list(table.headings)
        if table.timestamp is not None:
            j["time"] = table.timestamp
        return json_to_string(j, pretty=self.style.pretty, sort_keys=True) + "\n"


def _csv_escape(s: str) -> str:
    if '"' in s or "," in s or "\n" in s:
        return '"' + s.replace('"', '""') + '"'
    return s


def _html_escape(s: str) -> str:
    for c in '&<>"':
        if c in s:
            s = s.replace(c, _HTML_ESCAPES[c])
    return s


def _html_cell(s: str) -> str:
    """Escapes s for HTML, turning each uuid into a link to the row it names."""
    out: list[str] = []
    pos = 0
    import re  # only HTML output comes here; re costs every tool start milliseconds

    for m in re.finditer(_UUID_PREFIX, s):
        out.append(_html_escape(s[pos:m.start()]))
        u = m.group()
        out.append(f'<a href="#{u}">{u[:8]}</a>')
        pos = m.end()
    out.append(_html_escape(s[pos:]))
    return "".join(out)
