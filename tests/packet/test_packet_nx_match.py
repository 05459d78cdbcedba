"""NXM/OXM match codec: byte for byte what ovs-ofctl sends, decoded as ovs-ofctl decodes.

nx_match_golden.tsv holds 608 matches with the entries ovs-ofctl 3.1 put in its
flow mods for NXM and OpenFlow 1.2-1.5 (captured by a fake switch, as the
reference test below does live), and what `ovs-ofctl ofp-print` decodes each
to (a match, or the OpenFlow error when OVS cannot read what it wrote).
"""

from __future__ import annotations

import random
import socket
import struct
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from util import needs_reference, ref

from pyvswitch.packet.fields import FieldError
from pyvswitch.packet.match import format_match, parse_match
from pyvswitch.packet.nx_match import (
    NXM, OFP12, OFP13, OFP14, OFP15, decode, decode_ofp_match, encode, encode_ofp_match,
)

GOLDEN = Path(__file__).with_name("nx_match_golden.tsv")
VERSIONS = (("NXM", NXM), ("OpenFlow12", OFP12), ("OpenFlow13", OFP13), ("OpenFlow14", OFP14),
            ("OpenFlow15", OFP15))


def _rows():
    for line in GOLDEN.read_text().splitlines():
        if line and not line.startswith("#"):
            yield line.split("\t")


ROWS = list(_rows())


def _decoded(data: bytes, version: int) -> str:
    try:
        return format_match(decode(data, version))
    except FieldError as e:
        return f"error: {e.ofperr}"


@pytest.mark.parametrize("name,version", VERSIONS)
def test_encode_is_byte_exact(name, version):
    j = 1 + 2 * VERSIONS.index((name, version))
    wrong = [(r[0], r[j], encode(parse_match(r[0]), version).hex()) for r in ROWS
             if encode(parse_match(r[0]), version).hex() != r[j]]
    assert wrong == []


@pytest.mark.parametrize("name,version", VERSIONS)
def test_decode_like_ovs(name, version):
    j = 1 + 2 * VERSIONS.index((name, version))
    wrong = [(r[0], r[j + 1], _decoded(bytes.fromhex(r[j]), version)) for r in ROWS
             if _decoded(bytes.fromhex(r[j]), version) != r[j + 1]]
    assert wrong == []


def test_nxm_round_trip():
    for r in ROWS:
        m = parse_match(r[0]).normalized()
        assert decode(encode(m)) == m, r[0]


def test_decode_errors():
    eth_ip = "000006020800"  # NXM_OF_ETH_TYPE(0800)
    cases = {
        "OFPBMC_BAD_FIELD": "00007e0100",                           # NXM_OF field 63
        "OFPBMC_BAD_LEN": "00000603080000",                         # eth_type, 3 bytes
        "OFPBMC_BAD_MASK": "0000070408000fff",                      # eth_type with a mask
        "OFPBMC_DUP_FIELD": eth_ip + eth_ip,
        "OFPBMC_BAD_PREREQ": "00000e040a000001",                    # ip_src without IP
        "OFPBMC_BAD_WILDCARDS": eth_ip + "00000f080a000001ff000000",  # 1-bits outside mask
        "OFPBMC_BAD_VALUE": eth_ip + "0001380105",                  # nw_ecn=5
    }
    for err, hexs in cases.items():
        with pytest.raises(FieldError) as e:
            decode(bytes.fromhex(hexs))
        assert e.value.ofperr == err, (err, str(e.value))
    with pytest.raises(FieldError) as e:
        decode(bytes.fromhex("80000a0208"), OFP13)
    assert e.value.ofperr == "OFPBMC_BAD_LEN"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ROWS), st.sampled_from(range(5)),
       st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=4),
       st.integers(0, 300))
def test_fuzz_decode_only_raises_match_errors(row, j, flips, cut):
    data = bytearray.fromhex(row[1 + 2 * j])
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    try:
        decode(bytes(data[:cut]), VERSIONS[j][1])
    except FieldError as e:
        assert e.ofperr.startswith("OFPBMC_")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([v for _, v in VERSIONS]))
def test_fuzz_random_bytes(data, version):
    try:
        decode(data, version)
    except FieldError as e:
        assert e.ofperr.startswith("OFPBMC_")


# ---- live: what the installed ovs-ofctl sends to a fake switch --------------------------

def _fake_switch(sock: socket.socket, version: int, flow_mods: list[bytes]) -> None:
    """Serves ovs-ofctl's connections (it opens more than one) until sock is closed."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=_serve, args=(conn, version, flow_mods), daemon=True).start()


def _serve(conn: socket.socket, version: int, flow_mods: list[bytes]) -> None:
    """Answers one connection (hello, features, stats, barriers); records its flow mods."""
    with conn:
        conn.sendall(struct.pack("!BBHI", version, 0, 8, 0))
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while len(buf) >= 8 and len(buf) >= struct.unpack("!H", buf[2:4])[0]:
                v, t, n, xid = struct.unpack("!BBHI", buf[:8])
                msg, buf = buf[:n], buf[n:]
                if (v, t) in ((1, 4), (4, 14)):
                    flow_mods.append(msg)
                elif (v == 1 and t == 18) or (v >= 4 and t == 20):  # barrier
                    conn.sendall(struct.pack("!BBHI", v, t + 1, 8, xid))
                elif t == 5:  # features
                    body = struct.pack("!QIBB2xII", 1, 0, 1, 0, 0, 0)
                    conn.sendall(struct.pack("!BBHI", v, 6, 8 + len(body), xid) + body)
                elif v == 1 and t == 16:  # OpenFlow 1.0 stats: an empty reply
                    conn.sendall(struct.pack("!BBHI2sH", v, 17, 12, xid, msg[8:10], 0))
                elif v >= 4 and t == 18:  # multipart: table features get one table with
                    # the 8 required (empty) properties; anything else an empty reply
                    mtype = struct.unpack("!H", msg[8:10])[0]
                    body = b""
                    if mtype == 12:
                        props = b"".join(struct.pack("!HH4x", p, 4) for p in range(0, 16, 2))
                        body = struct.pack("!HB5x32sQQII", 64 + len(props), 0, b"t", 0, 0, 0,
                                           1) + props
                    conn.sendall(struct.pack("!BBHIHH4x", v, 19, 16 + len(body), xid, mtype, 0)
                                 + body)


def _capture(tmp_path: Path, version: int, args: list[str], flows: list[str]) -> list[bytes]:
    path = str(tmp_path / f"s{version}.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(4)
    mods: list[bytes] = []
    th = threading.Thread(target=_fake_switch, args=(sock, version, mods), daemon=True)
    th.start()
    (tmp_path / "flows.txt").write_text("".join(f"{f},actions=drop\n" for f in flows))
    try:
        p = subprocess.run([ref("ovs-ofctl"), *args, "add-flows", f"unix:{path}",
                            str(tmp_path / "flows.txt")], capture_output=True, text=True,
                           timeout=30)
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        th.join(10)
    assert p.returncode == 0, p.stderr
    return mods


@needs_reference
def test_live_capture_matches_encoder(tmp_path):
    flows = [r[0] for r in random.Random(3).sample(ROWS, 60) if r[0]]
    nxm = [m for m in _capture(tmp_path, 1, ["-F", "nxm"], flows) if m[12:16] == b"\0\0\0\x0d"]
    of13 = _capture(tmp_path, 4, ["-O", "OpenFlow13"], flows)
    assert len(nxm) == len(of13) == len(flows)
    for text, a, b in zip(flows, nxm, of13):
        m = parse_match(text)
        assert a[48:48 + struct.unpack("!H", a[40:42])[0]] == encode(m, NXM), text
        assert b[52:48 + struct.unpack("!H", b[50:52])[0]] == encode(m, OFP13), text


def test_ofp_match_wrapper():
    for r in ROWS[:100]:
        m = parse_match(r[0])
        for j, (_, version) in enumerate(VERSIONS[1:], 1):
            entries = bytes.fromhex(r[1 + 2 * j])
            wrapped = encode_ofp_match(m, version)
            assert wrapped[:4] == struct.pack("!HH", 1, 4 + len(entries))
            assert wrapped[4:4 + len(entries)] == entries and len(wrapped) % 8 == 0
            if not r[2 + 2 * j].startswith("error"):
                assert decode_ofp_match(wrapped + b"trailing", version) == (
                    decode(entries, version), len(wrapped))
    for bad, err in ((b"\0\x01", "OFPBMC_BAD_LEN"), (b"\0\0\0\x04\0\0\0\0", "OFPBMC_BAD_TYPE"),
                     (b"\0\x01\0\x10\0\0\0\0", "OFPBMC_BAD_LEN")):
        with pytest.raises(FieldError) as e:
            decode_ofp_match(bad, OFP13)
        assert e.value.ofperr == err


@pytest.mark.parametrize("text,ok", [
    # What ovs-ofctl -F nxm parse-flow (OVS 3.1) decodes back, or refuses (OFPBMC_BAD_PREREQ).
    ("udp,ip_frag=later,tp_dst=80", False), ("sctp,ip_frag=later,tp_dst=80", False),
    ("tcp,ip_frag=later,tcp_flags=+syn", False), ("tcp6,ip_frag=later,tp_dst=80", False),
    ("icmp,ip_frag=later,icmp_type=3", True), ("icmp6,ip_frag=later,icmp_type=1", True),
    ("tcp,ip_frag=not_later,tp_dst=80", True), ("tcp,ip_frag=yes,tp_dst=80", True),
])
def test_later_fragments_have_no_transport_ports(text, ok):
    m = parse_match(text)
    if ok:
        assert decode(encode(m)) == m.normalized()
        m.check_prerequisites()
    else:
        for check in (lambda: decode(encode(m)), m.check_prerequisites):
            with pytest.raises(FieldError) as e:
                check()
            assert e.value.ofperr == "OFPBMC_BAD_PREREQ"
