"""Formatting `list` and `find` results: the list, table, csv, html and json
formats with string, bare or json cells, as ovs-vsctl prints them.

A result is (table schema, column names, rows of (type, value) cells).  Like
OVS, consecutive results share one output stream: the list format puts a
blank line between records, also between the records of two commands; the
other text formats put a blank line between tables.
"""

from __future__ import annotations

import html
import json

from pyvswitch.vsctl import values


class _Printed:
    records = 0
    tables = 0


def _cell(t, value, data: str) -> str:
    if data == "json":
        return json.dumps(t.datum_to_json(value), separators=(",", ":"), ensure_ascii=False)
    if data == "bare":
        if t.value is not None:
            return " ".join(f"{values.atom_to_string(t.key, k).strip(chr(34))}="
                            f"{values.atom_to_string(t.value, v).strip(chr(34))}" for k, v in value)
        atoms = value if isinstance(value, tuple) else (value,)
        return " ".join(_bare(t.key, a) for a in atoms)
    return values.datum_to_string(t, value)


def _bare(base, atom) -> str:
    if isinstance(atom, str):
        return atom
    return values.atom_to_string(base, atom)


def pretty_json(v, level: int = 0) -> str:
    """OVS's pretty JSON: one element per line, closing brackets trailing."""
    pad = "  " * (level + 1)
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {pretty_json(x, level + 1)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(pad + pretty_json(x, level + 1) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def format_table(result, opts) -> str:
    ts, cols, rows = result
    fmt, data, headings = opts.format, opts.data, opts.headings
    if fmt == "json":
        doc = {"data": [[t.datum_to_json(v) for t, v in row] for row in rows], "headings": cols}
        if opts.pretty:
            return pretty_json(doc) + "\n"
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"
    cells = [[_cell(t, v, data) for t, v in row] for row in rows]
    out: list[str] = []
    if fmt == "list":
        for row in cells:
            if _Printed.records:
                out.append("\n")
            _Printed.records += 1
            for name, cell in zip(cols, row):
                out.append(f"{name:<20}: {cell}\n" if headings else f"{cell}\n")
        return "".join(out)
    if _Printed.tables:
        out.append("\n")
    _Printed.tables += 1
    if fmt == "table":
        widths = [len(c) if headings else 0 for c in cols]
        for row in cells:
            widths = [max(w, len(c)) for w, c in zip(widths, row)]

        def line(items):
            parts = [s.ljust(w) for s, w in zip(items[:-1], widths[:-1])] + [items[-1]]
            return " ".join(parts).rstrip(" ") + "\n" if items else "\n"
        if headings:
            out.append(line(cols))
            out.append(line(["-" * w for w in widths]))
        for row in cells:
            out.append(line(row))
    elif fmt == "csv":
        def csv(s: str) -> str:
            if any(c in s for c in '\n",'):
                return '"' + s.replace('"', '""') + '"'
            return s
        if headings:
            out.append(",".join(csv(c) for c in cols) + "\n")
        for row in cells:
            out.append(",".join(csv(c) for c in row) + "\n")
    elif fmt == "html":
        out.append("<table border=1>\n")
        if headings:
            out.append("  <tr>\n")
            out.extend(f"    <th>{html.escape(c, quote=False)}</th>\n" for c in cols)
            out.append("  </tr>\n")
        for row in cells:
            out.append("  <tr>\n")
            out.extend(f"    <td>{html.escape(c, quote=False)}</td>\n" for c in row)
            out.append("  </tr>\n")
        out.append("</table>\n")
    return "".join(out)
