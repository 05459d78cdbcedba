"""ovs-vswitchd's own unixctl commands: ofproto/list, dpif/dump-dps,
bridge/dump-flows, and with --enable-dummy netdev-dummy/receive (ofproto/trace,
fdb/* and dpif/show come from ofproto/trace.py, dpctl/* from datapath/dpctl.py,
bond/* and lacp/show from bonds.py).

Each handler reads the running switch (vswitchd/switch.py) and answers in
OVS's text formats; `register(table, runner)` adds them to the daemon's
command table.  `netdev-dummy/receive NAME PACKET...` makes each PACKET
(hex bytes of an Ethernet frame) arrive on dummy interface NAME, so tests can
send traffic through a daemon without privileges.
"""

from __future__ import annotations

import time

from pyvswitch.ofproto.ofactions import format_actions
from pyvswitch.vswitchd import bonds
from pyvswitch.packet.match import format_match


def _ofproto_list(runner, args):
    names = sorted(n for b in runner.switch.backers.values() for n in b.bridges)
    return True, "".join(n + "\n" for n in names)


def format_flow_stats(rule, now: float) -> str:
    """One bridge/dump-flows line: "[table_id=N, ]duration=Ns, n_packets=N, n_bytes=N,
    MATCH,actions=ACTIONS" (not ovs-ofctl's dump-flows format)."""
    head = f"table_id={rule.table_id}, " if rule.table_id else ""
    match = format_match(rule.match, rule.priority)
    return (f"{head}duration={int(max(0.0, now - rule.created))}s, n_packets={rule.n_packets}, "
            f"n_bytes={rule.n_bytes}, {match + ',' if match else ''}"
            f"actions={format_actions(rule.actions)}")


def _dump_flows(runner, args):
    br = runner.switch.bridge(args[0])
    if br is None:
        return False, "Unknown bridge\n"
    now = time.monotonic()
    return True, "".join(format_flow_stats(r, now) + "\n" for r in br.rules())


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


def _dump_dps(runner, args):
    dps = sorted(f"{b.datapath.type}@{b.datapath.name}" for b in runner.switch.backers.values())
    return True, "".join(d + "\n" for d in dps)


def register(table, runner) -> None:
    table.register("ofproto/list", "", 0, 0, lambda args: _ofproto_list(runner, args))
    table.register("dpif/dump-dps", "", 0, 0, lambda args: _dump_dps(runner, args))
    table.register("bridge/dump-flows", "[--offload-stats] bridge", 1, 2,
                   lambda args: _dump_flows(runner, args[-1:]))
    bonds.register(table, runner.bonds)
    if runner.switch.registry.types().count("dummy"):
        table.register("netdev-dummy/receive", "name packet|flow...", 2, 2 ** 16,
                       lambda args: _dummy_receive(runner, args))
