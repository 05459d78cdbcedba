"""lean_json on a truncated text in a process that has not imported json: the C scanner
needs json.decoder to raise JSONDecodeError (a SystemError otherwise, CPython 3.11), which
the JSON-RPC framer relies on to keep a message cut across reads."""

from __future__ import annotations

import json
import subprocess
import sys

from util import REPO

SRC = str(REPO / "src")

TEXTS = ('{"a": "abc', '[1, 2', '{"a"', '"ab', '')
_PROBE = "TEXTS = " + repr(TEXTS) + """
import sys
sys.path.insert(0, sys.argv[1])
assert "json" not in sys.modules
from pyvswitch.ovsdb import lean_json
from pyvswitch.ovsdb.jsonrpc import Framer
for text in TEXTS:
    try:
        lean_json.Decoder().raw_decode(text, 0)
    except ValueError as e:
        print(type(e).__name__, e.pos)
f = Framer()
msg = b'{"id": 1, "result": ["' + b"x" * 5000 + b'"], "error": null}'
got = f.feed(msg[:2000]) + f.feed(msg[2000:])
print(len(got))
"""


def test_truncated_texts_raise_json_errors_without_json_imported():
    out = subprocess.run([sys.executable, "-I", "-S", "-c", _PROBE, SRC],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    expected = []
    for text in TEXTS:
        try:
            json.JSONDecoder().raw_decode(text, 0)
        except json.JSONDecodeError as e:
            expected.append(f"JSONDecodeError {e.pos}")
    assert out.stdout.split("\n") == expected + ["1", ""]
