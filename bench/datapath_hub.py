#!/usr/bin/env python3
"""The userspace datapath alone, as a two-port hub between the bench hosts bh1 and bh2
(../shared/bench/topo.sh up; ports bp1 bp2), running until killed.  Run measure.sh beside it
to see what the datapath itself costs, without ofproto.

usage: datapath_hub.py [SECONDS]
"""
import sys
import time

from pyvswitch.datapath import actions as A
from pyvswitch.datapath.userspace import UserspaceDatapath
from pyvswitch.netdev.afpacket import AfPacketNetdev
from pyvswitch.packet.flow import FULL_MASK, FlowKey

dp = UserspaceDatapath("bench")
mask = FlowKey(in_port=FULL_MASK.in_port)
dp.set_upcall_handler(lambda key, pkt: (((A.OUTPUT, 3 - key.in_port),), mask))
dp.port_add(AfPacketNetdev("bp1"), 1)
dp.port_add(AfPacketNetdev("bp2"), 2)
dp.start()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 3600)
s = dp.stats()
print(f"hit {s.hit} missed {s.missed} lost {s.lost} flows {s.flows}", file=sys.stderr)
dp.close()
