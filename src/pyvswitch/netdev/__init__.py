"""netdev: the interfaces a datapath moves packets between.

A netdev is one Linux interface (or an in-memory one) seen as a source and sink of
Ethernet frames.  The datapath never names a concrete kind: it asks the registry for a
netdev of a type ("system", "internal", "dummy", ...) and uses the narrow `Netdev`
protocol below.

Frames carry their offload state.  Linux hands a socket that asked for it
(`PACKET_VNET_HDR`, `IFF_VNET_HDR`) a 10-byte virtio-net header in front of each frame:
GSO super-frames of up to 64 KiB and frames whose checksum is still to be filled in.
Passing that header through to the output netdev is what keeps TCP working, and fast,
with the veths' offloads on; `Packet.vnet` holds it (or None when there is no offload
to finish).  Netdevs that cannot take such a header finish the work in software first
(`offload.finish`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable


@dataclass(slots=True)
class Packet:
    """One frame and the offload header that came with it."""
    frame: bytes
    vnet: bytes | None = None


@dataclass(slots=True)
class NetdevStats:
    rx_packets: int = 0
    rx_bytes: int = 0
    rx_dropped: int = 0
    rx_errors: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    tx_dropped: int = 0
    tx_errors: int = 0


class NetdevError(Exception):
    """A netdev could not be opened or configured; str() is the text for Interface.error."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"could not open network device {name} ({reason})")
        self.name = name
        self.reason = reason


@runtime_checkable
class Netdev(Protocol):
    name: str
    type: str

    def fileno(self) -> int:
        """A descriptor that polls readable when frames are waiting (-1 if none)."""

    def recv_batch(self, limit: int) -> list[Packet]:
        """Up to `limit` waiting frames, without blocking."""

    def send_batch(self, packets: list[Packet]) -> int:
        """Sends what it can without blocking; returns how many were sent."""

    def stats(self) -> NetdevStats: ...

    def close(self) -> None: ...


@dataclass
class Registry:
    """Netdev constructors by type name; a datapath gets one, tests may make their own."""
    _types: dict[str, Callable[..., Netdev]] = field(default_factory=dict)

    def register(self, type_name: str, ctor: Callable[..., Netdev]) -> None:
        self._types[type_name] = ctor

    def types(self) -> list[str]:
        return sorted(self._types)

    def open(self, type_name: str, name: str, **options) -> Netdev:
        try:
            ctor = self._types[type_name]
        except KeyError:
            raise NetdevError(name, "Address family not supported by protocol") from None
        return ctor(name, **options)


def default_registry() -> Registry:
    """The netdev types this machine can open."""
    from . import afpacket, dummy, tap
    r = Registry()
    r.register("system", afpacket.AfPacketNetdev)
    r.register("", afpacket.AfPacketNetdev)
    r.register("internal", tap.TapNetdev)
    r.register("tap", tap.TapNetdev)
    r.register("dummy", dummy.DummyNetdev)
    return r
