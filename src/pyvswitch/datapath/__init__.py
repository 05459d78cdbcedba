"""dpif: the narrow interface between ofproto and a datapath.

A datapath owns ports (netdevs, numbered by datapath port number, "odp port") and a flow
cache.  It forwards packets that hit the cache by itself; a packet that misses goes up to
the upcall handler (ofproto's xlate), which returns the actions for it and the mask of the
fields it looked at; the datapath installs that megaflow and executes the actions.
ofproto never names a concrete datapath: it asks `open_datapath(type, name)`.

Threading contract: the datapath forwards in its own thread and calls the upcall handler
there; ofproto must not call into the datapath while holding a lock the handler takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from pyvswitch.netdev import Netdev, Packet
from pyvswitch.packet.flow import FlowKey

# An upcall handler returns (actions, mask) for a missed packet, or None to drop it
# without installing anything.  A mask of None executes the actions without caching.
UpcallHandler = Callable[[FlowKey, Packet], "tuple[tuple, FlowKey | None] | None"]
UserspaceHandler = Callable[[object, Packet], None]

LOCAL_PORT = 0  # the datapath's own port number


@dataclass(slots=True)
class DpStats:
    hit: int = 0
    missed: int = 0
    lost: int = 0
    flows: int = 0
    masks_hit: int = 0
    masks_total: int = 0
    offloaded: int = 0      # of the hits, packets the kernel fast path forwarded


class Datapath(Protocol):
    name: str
    type: str

    def port_add(self, netdev: Netdev, port_no: int | None = None) -> int: ...
    def port_del(self, port_no: int) -> None: ...
    def ports(self) -> dict[int, Netdev]: ...
    def set_upcall_handler(self, handler: UpcallHandler | None) -> None: ...
    def set_userspace_handler(self, handler: UserspaceHandler | None) -> None: ...
    def flow_put(self, mask: FlowKey, key: FlowKey, actions: tuple) -> None: ...
    def flow_dump(self) -> list: ...
    def flow_flush(self) -> int: ...
    def revalidate(self, translate: Callable[[FlowKey], "tuple[tuple, FlowKey | None] | None"]) -> None: ...
    def execute(self, pkt: Packet, actions: tuple) -> None: ...
    def stats(self) -> DpStats: ...
    def set_kernel_fastpath(self, enabled: bool) -> None: ...
    def kernel_fastpath_status(self) -> str | None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


def open_datapath(dp_type: str, name: str) -> Datapath:
    """A datapath of the given type ("", "netdev" and "system" are all the userspace one)."""
    if dp_type in ("", "netdev", "system", "dummy"):
        from .userspace import UserspaceDatapath
        return UserspaceDatapath(name, dp_type or "netdev")
    raise ValueError(f"unknown datapath type {dp_type}")
