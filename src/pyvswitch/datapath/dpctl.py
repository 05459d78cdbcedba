"""dpctl: the datapath management commands (`ovs-appctl dpctl/...`, `ovs-dpctl ...`).

One table serves both: ovs-vswitchd registers each command as `dpctl/NAME` on its
unixctl socket, and ovs-dpctl (which cannot open a userspace datapath from another
process) sends the same commands there.  A command takes the datapaths that exist
now, its arguments and `now`, and returns (ok, text) in OVS's words; errors start with
the daemon's program name, which ovs-dpctl swaps for its own.

Datapaths are named TYPE@NAME (netdev@ovs-netdev); a bare NAME means system@NAME, as in
OVS.  Commands that take an optional DP use the only datapath when there is one.
Options may appear anywhere among the arguments: -m/--more (verbose flows), --names /
--no-names (port names in flows), -s/--statistics (port counters, or clear on mod),
--clear, --may-create.
"""

from __future__ import annotations

from typing import Callable, Iterable

from .odp_text import OdpParseError, format_flow, parse_actions, parse_flow

PROGRAM = "ovs-vswitchd"

_OPTIONS = {"-m": "more", "--more": "more", "--names": "names", "--no-names": "no-names",
            "-s": "stats", "--statistics": "stats", "--clear": "clear",
            "--may-create": "may-create"}


class DpctlError(Exception):
    pass


def dp_name(dp) -> str:
    return f"{dp.type}@{dp.name}"


def _split(args: list[str]) -> tuple[set[str], list[str]]:
    opts, rest = set(), []
    for a in args:
        if a in _OPTIONS:
            opts.add(_OPTIONS[a])
        elif a.startswith("-") and len(a) > 1:
            raise DpctlError(f"unknown option {a}")
        else:
            rest.append(a)
    return opts, rest


def _find(dps: list, name: str):
    dp_type, at, bare = name.partition("@")
    if not at:
        dp_type, bare = "system", name
    for dp in dps:
        if dp.name == bare and dp.type == dp_type:
            return dp
    return None


def _one_dp(dps: list, args: list[str], n_after: int) -> tuple[object, list[str]]:
    """The datapath named by args[0] when args has more than n_after items, else the only one."""
    if len(args) > n_after:
        dp = _find(dps, args[0])
        if dp is None:
            raise DpctlError("datapath not found (Invalid argument)")
        return dp, args[1:]
    if len(dps) != 1:
        raise DpctlError("datapath not found (Invalid argument)" if not dps else
                         f"multiple datapaths, specify one\n{PROGRAM}: "
                         "datapath not found (Invalid argument)")
    return dps[0], args


def _port_type(dp, netdev) -> str:
    t = getattr(netdev, "type", "system")
    return "tap" if t == "internal" and dp.type == "netdev" else t


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n} ({n / size:.1f} {unit})"
    return str(n)


def _port_stats(netdev) -> list[str]:
    s = netdev.stats()
    unknown = getattr(netdev, "type", "") == "dummy"
    q = "?" if unknown else "0"

    def v(x: int) -> str:
        return "?" if unknown else str(x)
    return [f"    RX packets:{s.rx_packets} errors:{v(s.rx_errors)} dropped:{v(s.rx_dropped)} "
            f"overruns:{q} frame:{q}",
            f"    TX packets:{s.tx_packets} errors:{v(s.tx_errors)} dropped:{v(s.tx_dropped)} "
            f"aborted:{q} carrier:{q}",
            f"    collisions:{q}",
            f"    RX bytes:{_human(s.rx_bytes)}  TX bytes:{_human(s.tx_bytes)}"]


def _show_one(dp, stats: bool) -> list[str]:
    st = dp.stats()
    lines = [f"{dp_name(dp)}:", f"  lookups: hit:{st.hit} missed:{st.missed} lost:{st.lost}",
             f"  flows: {st.flows}"]
    kernel = getattr(dp, "kernel_fastpath_status", None)
    status = kernel() if kernel is not None else None
    if status is not None:
        lines.append(f"  kernel fast path: {status}")
    for port_no, netdev in sorted(dp.ports().items()):
        t = _port_type(dp, netdev)
        lines.append(f"  port {port_no}: {netdev.name}" + ("" if t == "system" else f" ({t})"))
        if stats:
            lines += _port_stats(netdev)
    return lines


def show(dps: list, args: list[str], now: float) -> str:
    opts, names = _split(args)
    if names:
        chosen = []
        for n in names:
            dp = _find(dps, n)
            if dp is None:
                raise DpctlError(f"opening datapath {n} failed (No such device)")
            chosen.append(dp)
    elif not dps:
        raise DpctlError("no datapaths exist")
    else:
        chosen = sorted(dps, key=dp_name)
    return "".join(line + "\n" for dp in chosen for line in _show_one(dp, "stats" in opts))


def dump_dps(dps: list, args: list[str], now: float) -> str:
    return "".join(dp_name(dp) + "\n" for dp in sorted(dps, key=dp_name))


def _names(dp) -> tuple[dict[int, str], dict[str, int]]:
    by_no = {no: d.name for no, d in dp.ports().items()}
    return by_no, {n: no for no, n in by_no.items()}


# type=... of dump-flows: which flows each type selects, by whether the kernel fast path
# holds entries for them (shown as "offloaded:yes, dp:tc", as OVS shows TC-offloaded flows).
_DUMP_TYPES = {"ovs": (False,), "tc": (True,), "offloaded": (True,), "non-offloaded": (False,),
               "dpdk": (), "partially-offloaded": (), "all": (False, True)}


def _dump_types(text: str) -> set[bool]:
    chosen: set[bool] = set()
    for t in text.split(","):
        if t not in _DUMP_TYPES:
            raise DpctlError(f"Failed to parse type ({t}) (Invalid argument)")
        chosen.update(_DUMP_TYPES[t])
    return chosen


def dump_flows(dps: list, args: list[str], now: float) -> str:
    opts, rest = _split(args)
    types = {False, True}
    for a in [a for a in rest if a.startswith("type=")]:
        types = _dump_types(a[5:])
        rest.remove(a)
    dp, rest = _one_dp(dps, rest, 0)
    if rest and not rest[0].startswith("filter="):
        raise DpctlError(f"{rest[0]}: unknown argument")
    flows = [f for f in dp.flow_dump() if bool(getattr(f, "kkeys", None)) in types]
    if not flows:
        return ""
    verbose = "more" in opts
    by_no, _ = _names(dp)
    names = by_no if (verbose or "names" in opts) and "no-names" not in opts else None
    lines = ["flow-dump from the main thread:"]
    for f in sorted(flows, key=lambda f: f.created):
        lines.append(format_flow(f, now, verbose=verbose, port_names=names))
    return "".join(line + "\n" for line in lines)


def _parse(dp, flow_text: str, actions_text: str | None):
    _, numbers = _names(dp)
    try:
        mask, key = parse_flow(flow_text, numbers)
    except OdpParseError as e:
        raise DpctlError(f"parsing flow key ({e}) (Invalid argument)") from None
    if actions_text is None:
        return mask, key, None
    try:
        actions = parse_actions(actions_text, numbers)
    except OdpParseError as e:
        raise DpctlError(f"parsing actions ({e}) (Invalid argument)") from None
    return mask, key, actions


def _check_key(mask, key) -> None:
    if not mask.in_port or not mask.dl_type:
        raise DpctlError("updating flow table (Invalid argument)")


def add_flow(dps: list, args: list[str], now: float) -> str:
    opts, rest = _split(args)
    dp, rest = _one_dp(dps, rest, 2)
    if len(rest) != 2:
        raise DpctlError("add-flow: FLOW and ACTIONS are required (Invalid argument)")
    mask, key, actions = _parse(dp, rest[0], rest[1])
    _check_key(mask, key)
    if dp.flow_get(mask, key) is not None:
        raise DpctlError("updating flow table (File exists)")
    dp.flow_put(mask, key, actions)
    return ""


def mod_flow(dps: list, args: list[str], now: float) -> str:
    opts, rest = _split(args)
    dp, rest = _one_dp(dps, rest, 2)
    if len(rest) != 2:
        raise DpctlError("mod-flow: FLOW and ACTIONS are required (Invalid argument)")
    mask, key, actions = _parse(dp, rest[0], rest[1])
    _check_key(mask, key)
    f = dp.flow_get(mask, key)
    if f is None and "may-create" not in opts:
        raise DpctlError("updating flow table (No such file or directory)")
    f = dp.flow_put(mask, key, actions)
    if "stats" in opts or "clear" in opts:
        f.packets = f.bytes = f.tcp_flags = 0
        f.used = 0.0
    return ""


def del_flow(dps: list, args: list[str], now: float) -> str:
    opts, rest = _split(args)
    dp, rest = _one_dp(dps, rest, 1)
    if len(rest) != 1:
        raise DpctlError("del-flow: FLOW is required (Invalid argument)")
    mask, key, _ = _parse(dp, rest[0], None)
    f = dp.flow_get(mask, key)
    if f is None or not dp.flow_del(f):
        raise DpctlError("deleting flow (No such file or directory)\n"
                         "Perhaps you need to specify a UFID?")
    return ""


def del_flows(dps: list, args: list[str], now: float) -> str:
    opts, rest = _split(args)
    dp, rest = _one_dp(dps, rest, 0)
    dp.flow_flush()
    return ""


# name -> (usage, min args, max args, function)
COMMANDS: dict[str, tuple[str, int, int, Callable]] = {
    "show": ("[-s] [DP...]", 0, 8, show),
    "dump-dps": ("", 0, 0, dump_dps),
    "dump-flows": ("[-m] [--names | --no-names] [DP] [filter=..] [type=..]", 0, 5, dump_flows),
    "add-flow": ("[DP] FLOW ACTIONS", 2, 3, add_flow),
    "mod-flow": ("[--may-create] [--clear] [-s] [DP] FLOW ACTIONS", 2, 6, mod_flow),
    "del-flow": ("[DP] FLOW", 1, 2, del_flow),
    "del-flows": ("[DP]", 0, 1, del_flows),
}


def run(name: str, dps: Iterable, args: list[str], now: float,
        program: str = PROGRAM) -> tuple[bool, str]:
    """Runs one dpctl command; (ok, text), errors prefixed by program as OVS prints them."""
    try:
        return True, COMMANDS[name][3](list(dps), list(args), now)
    except DpctlError as e:
        return False, f"{program}: {e}\n"


def register(table, datapaths: Callable[[], Iterable], clock: Callable[[], float]) -> None:
    """Adds the dpctl/* commands to a daemon's unixctl command table."""
    for name, (usage, lo, hi, _) in COMMANDS.items():
        table.register(f"dpctl/{name}", usage, lo, hi,
                       lambda args, name=name: run(name, datapaths(), args, clock()))
