"""The raw-header cache in front of flow extraction: a hit must give exactly what full
extraction would; anything unusual takes the full path."""

from __future__ import annotations

import struct

from pyvswitch.datapath import actions as A
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev import Packet
from pyvswitch.netdev.dummy import DummyNetdev
from pyvswitch.packet import headers as H
from pyvswitch.packet.flow import FULL_MASK, FlowKey, extract, packet_mask


def tcp_frame(flags=0x10, sport=1000, payload=b"x" * 10, options=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, 80, 1, 2, 5 << 4, flags, 1000, 0, 0) + payload
    ip = H.ipv4_packet(0x0A000001, 0x0A000002, H.IPPROTO_TCP, tcp)
    if options:
        ip = bytes([0x40 | (5 + len(options) // 4)]) + ip[1:2] + \
            struct.pack("!H", len(ip) + len(options)) + ip[4:20] + options + ip[20:]
    return H.eth_frame(0x020000000002, 0x020000000001, H.ETH_TYPE_IP, ip)


def udp_frame(sport=1000):
    udp = struct.pack("!HHHH", sport, 9, 12, 0) + b"data"
    return H.eth_frame(0x020000000002, 0x020000000001, H.ETH_TYPE_IP,
                       H.ipv4_packet(0x0A000001, 0x0A000002, H.IPPROTO_UDP, udp))


def exact_dp():
    """A datapath whose slow path installs exact-match megaflows, recording each upcall key."""
    dp = UserspaceDatapath()
    out = DummyNetdev("out")
    dp.port_add(DummyNetdev("in"), 1)
    dp.port_add(out, 2)
    upcalls = []

    def handler(key, pkt):
        upcalls.append(key)
        return ((A.OUTPUT, 2),), packet_mask(key)
    dp.set_upcall_handler(handler)
    return dp, out, upcalls


def test_known_microflow_skips_extraction_and_keeps_stats():
    dp, out, upcalls = exact_dp()
    try:
        frames = [tcp_frame(0x02), tcp_frame(0x10), tcp_frame(0x18), tcp_frame(0x18),
                  tcp_frame(0x18, payload=b"y" * 100), tcp_frame(0x11)]
        dp.process(1, [Packet(f) for f in frames])
        dp.process(1, [Packet(f) for f in frames])
        assert len(out.transmitted) == 12
        # One upcall per distinct flow key (flags differ); payload differences are not keys.
        assert len(upcalls) == 4
        assert dp._raw_emc[1] and len(dp._raw_emc[1]) == 4
        flows = {f.key.tcp_flags: f for f in dp.flow_dump()}
        assert flows[0x18].packets == 6 and flows[0x18].tcp_flags == 0x18
        assert flows[0x18].bytes == 4 * len(frames[2]) + 2 * len(frames[4])
        s = dp.stats()
        assert (s.hit, s.missed) == (8, 4)
    finally:
        dp.close()


def test_unusual_frames_take_the_full_path():
    dp, out, upcalls = exact_dp()
    try:
        tagged = tcp_frame()[:12] + struct.pack("!HH", 0x8100, 10) + tcp_frame()[12:]
        opts = tcp_frame(options=b"\x01\x01\x01\x00")
        frag = bytearray(udp_frame())
        frag[20] = 0x20                                   # MF: a first fragment
        icmp = H.eth_frame(0x020000000002, 0x020000000001, H.ETH_TYPE_IP,
                           H.ipv4_packet(0x0A000001, 0x0A000002, H.IPPROTO_ICMP,
                                         b"\x08\x00\x00\x00\x00\x01\x00\x01"))
        for f in (tagged, opts, bytes(frag), icmp):
            dp.process(1, [Packet(f)])
            dp.process(1, [Packet(f)])
        assert not dp._raw_emc.get(1)
        assert [extract(f, 1) for f in (tagged, opts, bytes(frag), icmp)] == upcalls
        assert len(out.transmitted) == 8
    finally:
        dp.close()


def test_truncated_frame_with_a_cached_header_is_not_a_hit():
    dp, out, upcalls = exact_dp()
    try:
        good = tcp_frame()
        dp.process(1, [Packet(good)])
        short = good[:50]                  # IP total length now exceeds the frame
        dp.process(1, [Packet(short)])
        assert upcalls[-1] == extract(short, 1) and len(upcalls) == 2
    finally:
        dp.close()


def test_removed_flow_is_not_served_from_the_raw_cache():
    dp, out, upcalls = exact_dp()
    try:
        dp.process(1, [Packet(udp_frame())])
        dp.flow_flush()
        dp.set_upcall_handler(lambda key, pkt: ((), packet_mask(key)))   # now: drop
        dp.process(1, [Packet(udp_frame())])
        assert len(out.transmitted) == 1
        # Same header on another port is another microflow.
        dp.set_upcall_handler(lambda key, pkt: (((A.OUTPUT, 1),), FlowKey(in_port=FULL_MASK.in_port)))
        dp.process(2, [Packet(udp_frame())])
        assert dp.stats().missed == 3
    finally:
        dp.close()


from hypothesis import given, settings, strategies as st  # noqa: E402

from pyvswitch.datapath.rawkey import plain_key  # noqa: E402

_BASES = [tcp_frame(0x18), tcp_frame(0x02, payload=b""), udp_frame(), udp_frame(53),
          tcp_frame(options=b"\x01\x01\x01\x00")]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_BASES), st.lists(st.tuples(st.integers(0, 59), st.integers(0, 255)),
                                         max_size=4),
       st.integers(0, 80))
def test_plain_key_is_extract_or_none(base, edits, cut):
    frame = bytearray(base)
    for at, value in edits:
        if at < len(frame):
            frame[at] = value
    frame = bytes(frame[:len(frame) - cut] if cut < len(frame) else frame[:cut])
    k = plain_key(frame, 7)
    if k is not None:
        assert k == extract(frame, 7)
    # Plain frames are recognised.
    assert plain_key(base, 3) == (extract(base, 3) if base[14] == 0x45 else None)


def test_started_datapath_sends_big_batches_in_order_through_the_sender():
    from util import wait_until
    dp, out, upcalls = exact_dp()
    inp = dp.ports()[1]
    try:
        dp.start()
        frames = [udp_frame(1000 + i % 7) for i in range(300)]
        for i, f in enumerate(frames):
            inp.inject(f[:-4] + b"%04d" % i)
        wait_until(lambda: len(out.transmitted) == 300, 10, what="300 frames out")
        assert [int(bytes(f[-4:])) for f in out.transmitted] == list(range(300))
        dp.port_del(2)                  # drains the sender first
        assert dp._sender.idle()
    finally:
        dp.close()
    assert dp._sender._thread is None


def test_a_failing_batch_costs_only_itself():
    from util import wait_until
    dp, out, upcalls = exact_dp()
    inp = dp.ports()[1]
    try:
        dp.start()
        real = dp._forward
        dp._forward = lambda port, pkts: 1 / 0
        inp.inject(udp_frame())
        wait_until(lambda: dp.last_forward_error is not None, 10, what="the failure")
        dp._forward = real
        inp.inject(udp_frame())
        wait_until(lambda: len(out.transmitted) == 1, 10, what="forwarding again")
    finally:
        dp.close()
