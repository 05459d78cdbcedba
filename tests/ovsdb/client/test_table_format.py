"""The table formatter and OVS-style JSON, without any server: output fixed
against what the real ovsdb-client prints for the same cells."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.ovsdb.table_format import (Datum, JsonCell, Style, Table, TablePrinter, json_loads,
                                          json_to_string)
from pyvswitch.ovsdb.types import Type

U1 = "86616b66-3b06-4f0a-81ba-c10069b9f214"
U2 = "95fffbfd-41d1-4ec5-b18a-8e9cc2587424"
MAP = Type.from_json({"key": "string", "value": "string", "min": 0, "max": "unlimited"})
REFS = Type.from_json({"key": "uuid", "min": 0, "max": "unlimited"})
UUID = Type.from_json("uuid")
STR = Type.from_json("string")


def bridge_table() -> Table:
    t = Table(["_uuid", "external_ids", "name", "ports"], caption="Bridge table")
    t.add_row([Datum(UUID, U1), Datum(MAP, (("a", "x y"), ("b", "1"))), Datum(STR, "br0"),
               Datum(REFS, (U1, U2))])
    return t


def fmt(style: Style, *tables: Table) -> str:
    p = TablePrinter(style)
    return "".join(p.format(t) for t in tables)


def test_table():
    assert fmt(Style(), bridge_table()) == (
        "Bridge table\n"
        "_uuid                                external_ids     name ports\n"
        "------------------------------------ ---------------- ---- ----------------------------------------------------------------------------\n"
        f"{U1} {{a=\"x y\", b=\"1\"}} br0  [{U1}, {U2}]\n")


def test_widths_count_bytes_and_trailing_spaces_go():
    t = Table(["a", "b"])
    t.add_row(["é☃", ""])
    t.add_row(["x", "y"])
    assert fmt(Style(), t) == "a     b\n----- -\né☃\nx     y\n"


def test_list_and_blank_lines_between_tables():
    t = bridge_table()
    out = fmt(Style("list", "bare"), t, t)
    record = (f"_uuid               : {U1}\nexternal_ids        : a=x y b=1\nname                : br0\n"
              f"ports               : {U1} {U2}\n")
    assert out == "Bridge table\n" + record + "\nBridge table\n" + record
    assert fmt(Style("list", "bare", headings=False), t).splitlines()[1:] == [U1, "a=x y b=1", "br0", f"{U1} {U2}"]


def test_csv():
    assert fmt(Style("csv"), bridge_table()) == (
        "Bridge table\n_uuid,external_ids,name,ports\n"
        f'{U1},"{{a=""x y"", b=""1""}}",br0,"[{U1}, {U2}]"\n')


def test_html_links_uuids():
    out = fmt(Style("html"), bridge_table())
    assert out.startswith("<table border=1>\n    <caption>Bridge table</caption>\n  <tr>\n    <th>_uuid</th>\n")
    assert f'    <td><a name="{U1}">86616b66</a></td>\n' in out
    assert "    <td>{a=&quot;x y&quot;, b=&quot;1&quot;}</td>\n" in out
    assert f'    <td>[<a href="#{U1}">86616b66</a>, <a href="#{U2}">95fffbfd</a>]</td>\n' in out
    assert out.endswith("  </tr>\n</table>\n")


def test_json_and_pretty():
    t = Table(["external_ids", "name"], caption="Bridge table")
    t.add_row([Datum(MAP, (("a", "x y"),)), "br0"])
    assert fmt(Style("json"), t) == ('{"caption":"Bridge table","data":[[["map",[["a","x y"]]],"br0"]],'
                                     '"headings":["external_ids","name"]}\n')
    assert fmt(Style("json", pretty=True), t) == (
        '{\n  "caption": "Bridge table",\n  "data": [\n    [\n      [\n        "map",\n        [\n'
        '          [\n            "a",\n            "x y"]]],\n      "br0"]],\n  "headings": [\n'
        '    "external_ids",\n    "name"]}\n')


def test_empty_cells_and_json_cells():
    t = Table(["row", "x", "Type"])
    t.add_row(["", None, JsonCell({"max": "unlimited", "key": "string", "min": 0})])
    assert fmt(Style("json"), t) == ('{"data":[["",null,{"key":"string","max":"unlimited","min":0}]],'
                                     '"headings":["row","x","Type"]}\n')
    assert fmt(Style("table", "bare"), t).splitlines()[2] == '      {"key":"string","max":"unlimited","min":0}'


def test_timestamp_line():
    t = Table(["a"], caption="T", timestamp="2026-01-01 00:00:00.000")
    assert fmt(Style(), t) == "2026-01-01 00:00:00.000\nT\na\n-\n"
    assert fmt(Style("html"), t).startswith("2026-01-01 00:00:00.000\n<table border=1>\n    <caption>T</caption>\n")
    assert '"time":"2026-01-01 00:00:00.000"' in fmt(Style("json"), t)


@pytest.mark.parametrize("value,text", [
    (0.1, "0.1"), (2.0, "2"), (1e-7, "1e-07"), (1e20, "1e+20"), (1 / 3, "0.333333333333333"),
    (123456789012345678.0, "1.23456789012346e+17"), (-0.0, "-0"), ("é\t\x01\"", '"é\\t\\u0001\\""'),
    ({"b": [], "a": {}}, '{"b":[],"a":{}}'), (None, "null"), (True, "true"),
])
def test_json_to_string(value, text):
    assert json_to_string(value) == text


def test_json_loads_types_numbers_like_ovs():
    assert json_loads("[2.0, 1.5e1, 1e2, 100e-2, 1.25e1, 1e19, 9223372036854775807]") == \
        [2, 15, 100, 1, 12.5, 1e19, 9223372036854775807]
    assert type(json_loads("[1e2]")[0]) is int
    # Like strtod, OVS refuses overflow and subnormals, but lets 1e-400 be 0.
    assert json_loads("[1e-400]") == [0.0]
    for bad in ("[1e400]", "[1e-320]", "[NaN]", "[Infinity]"):
        with pytest.raises(ValueError):
            json_loads(bad)
    assert not math.isnan(json_loads("[0.5]")[0])


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('[]{}",:0123456789.eE+-tru \\\\na')), max_size=24))
def test_json_loads_fails_only_with_value_errors(text):
    try:
        v = json_loads(text)
    except ValueError:
        return
    # What parses, serializes to JSON that parses again (reals lose digits
    # beyond 15, and integral reals become integers, as in OVS).
    assert isinstance(json_loads(json_to_string(v)), (dict, list, str, int, float, bool, type(None)))
