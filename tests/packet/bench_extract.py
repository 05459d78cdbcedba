"""Flow extraction benchmark (not collected by pytest): .venv/bin/python tests/packet/bench_extract.py

Rates are per second of CPU time (process_time), on memoryviews as the datapath passes them.
"""

from __future__ import annotations

import time

from pyvswitch.packet.flow import extract
from pyvswitch.packet.headers import (
    ETH_TYPE_IPV6, IPPROTO_TCP, Tcp, Vlan, arp_frame, eth_frame, ipv6_packet, nd_frame, tcp_frame,
    udp_frame,
)

FRAMES = {
    "tcp": tcp_frame(1, 2, 0x0A000001, 0x0A000002, 1234, 80, payload=b"x" * 1400),
    "udp+vlan": udp_frame(1, 2, 3, 4, 5, 6, vlans=(Vlan(5),)),
    "arp": arp_frame(1, 2, 1, 1, 2, 3, 4),
    "tcp6": eth_frame(2, 1, ETH_TYPE_IPV6, ipv6_packet(1, 2, IPPROTO_TCP, Tcp(1, 2).pack())),
    "nd": nd_frame(1, 2, 3, 4, 135, 5, sll=1),
}


def main() -> None:
    n = 200_000
    for name, frame in FRAMES.items():
        mv = memoryview(frame)
        t = time.process_time()
        for _ in range(n):
            extract(mv, 1)
        print(f"{name}: {n / (time.process_time() - t):,.0f} frames/s")


if __name__ == "__main__":
    main()
