"""Formatting `list` and `find` results with OVS's table formats.

The formats themselves (list, table, csv, html, json; string, bare or json
cells) are pyvswitch.ovsdb.table_format's, shared with ovsdb-client.  One
printer serves a whole invocation, so that consecutive results are
separated the way ovs-vsctl separates them.
"""

from __future__ import annotations

from pyvswitch.ovsdb import table_format


class Output:
    def __init__(self, opts) -> None:
        style = table_format.Style(format=opts.format, cell=opts.data, headings=opts.headings,
                                   pretty=opts.pretty)
        self.printer = table_format.TablePrinter(style)

    def format(self, result) -> str:
        _ts, cols, rows = result
        table = table_format.Table(list(cols))
        for row in rows:
            table.add_row([table_format.Datum(t, v) for t, v in row])
        return self.printer.format(table)
