"""ovs-vswitchd's own unixctl commands: ofproto/list, bridge/dump-flows, and with
--enable-dummy netdev-dummy/receive (ofproto/trace, fdb/* and dpif/show come
from ofproto/trace.py).

Each handler reads the running switch (vswitchd/switch.py) and answers in
OVS's text formats; `register(table, runner)` adds them to the daemon's
command table.  `netdev-dummy/receive NAME PACKET...` makes each PACKET
(hex bytes of an Ethernet frame) arrive on dummy interface NAME, so tests can
send traffic through a daemon without privileges.
"""

from __future__ import annotations

import time


def _ofproto_list(runner, args):
    names = sorted(n for b in runner.switch.backers.values() for n in b.bridges)
    return True, "".join(n + "\n" for n in names)


def _dump_flows(runner, args):
    br = runner.switch.bridge(args[0])
    if br is None:
        return False, f"{args[0]}: unknown bridge\n"
    return True, br.dump_flows(time.monotonic())


def _dummy_receive(runner, args):
    name, packets = args[0], args[1:]
    netdev = runner.switch.netdevs.get(name)
    if netdev is None or not hasattr(netdev, "inject"):
        return False, "no such dummy netdev\n"
    frames = []
    for text in packets:
        try:
            frames.append(bytes.fromhex(text))
        except ValueError:
            return False, "bad packet or flow syntax\n"
    for frame in frames:
        netdev.inject(frame)
    return True, ""


def register(table, runner) -> None:
    table.register("ofproto/list", "", 0, 0, lambda args: _ofproto_list(runner, args))
    table.register("bridge/dump-flows", "[--offload-stats] bridge", 1, 2,
                   lambda args: _dump_flows(runner, args[-1:]))
    if runner.switch.registry.types().count("dummy"):
        table.register("netdev-dummy/receive", "name packet|flow...", 2, 2 ** 16,
                       lambda args: _dummy_receive(runner, args))
