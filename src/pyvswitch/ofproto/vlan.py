"""Port VLAN configuration and what it means for NORMAL switching.

A port's VLAN settings are the Port table's `tag`, `trunks` and `vlan_mode`
(see ovs-vswitchd.conf.db(5)).  When `vlan_mode` is empty the port is an
access port if it has a tag and a trunk port otherwise.  Modes:

- access: carries one VLAN (`tag`, 0 when unset) untagged.  Received frames
  must be untagged or priority-tagged (VID 0), else they are dropped.
- trunk: carries the VLANs in `trunks` (every VLAN, 0 included, when empty)
  tagged; VLAN 0 is untagged.  `tag` is ignored.
- native-tagged: like trunk, plus the native VLAN `tag`, which untagged and
  priority-tagged frames belong to; output in the native VLAN is tagged.
- native-untagged: the same, but output in the native VLAN is untagged.

The native VLAN is always carried, whether or not `trunks` lists it (as in
OVS).  VLAN 0 means "untagged".  `input_vlan` maps a received frame's VID to
the VLAN it belongs to (or None: drop), `includes` says whether frames of a
VLAN may leave through the port, and `output_tci` is the 802.1Q TCI such a
frame carries on the wire there (0: untagged).  Together they guarantee no
frame crosses from one VLAN to another.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pyvswitch.packet.headers import VLAN_CFI, VLAN_PCP_MASK


class VlanMode(str, enum.Enum):
    ACCESS = "access"
    TRUNK = "trunk"
    NATIVE_TAGGED = "native-tagged"
    NATIVE_UNTAGGED = "native-untagged"


@dataclass(frozen=True, slots=True)
class VlanConfig:
    tag: int | None = None
    trunks: frozenset[int] = frozenset()
    vlan_mode: VlanMode | None = None

    @property
    def mode(self) -> VlanMode:
        if self.vlan_mode is not None:
            return VlanMode(self.vlan_mode)
        return VlanMode.ACCESS if self.tag is not None else VlanMode.TRUNK

    @property
    def native(self) -> int:
        """The access or native VLAN (0 when no tag is set)."""
        return self.tag or 0

    def input_vlan(self, vid: int) -> int | None:
        """The VLAN of a frame received with VLAN ID vid (0: untagged or priority-tagged),
        or None if the port may not receive it."""
        mode = self.mode
        if mode is VlanMode.ACCESS:
            return self.native if vid == 0 else None
        if mode is VlanMode.TRUNK:
            return vid if not self.trunks or vid in self.trunks else None
        if vid == 0:
            return self.native
        return vid if vid == self.native or vid in self.trunks else None

    def drop_reason(self, vid: int, port_name: str) -> str:
        """Why input_vlan refused vid, in ofproto/trace's words."""
        if self.mode is VlanMode.ACCESS:
            return (f"dropping VLAN {vid} tagged packet received on port {port_name} "
                    f"configured as VLAN {self.native} access port")
        return (f"dropping VLAN {vid} packet received on port {port_name} not configured "
                f"for trunking VLAN {vid}")

    def includes(self, vlan: int) -> bool:
        mode = self.mode
        if mode is VlanMode.ACCESS:
            return vlan == self.native
        if mode is VlanMode.TRUNK:
            return not self.trunks or vlan in self.trunks
        return vlan == self.native or vlan in self.trunks

    def output_tci(self, vlan: int, pcp_bits: int) -> int:
        """The TCI (CFI set, or 0 for untagged) of a VLAN `vlan` frame sent here;
        pcp_bits are the received frame's priority bits (already in place)."""
        mode = self.mode
        if mode is VlanMode.ACCESS:
            return 0
        if mode is VlanMode.NATIVE_UNTAGGED and vlan == self.native:
            return 0
        pcp = pcp_bits & VLAN_PCP_MASK
        if vlan == 0:
            # VLAN 0 leaves untagged, but a priority survives as a priority tag (as in OVS).
            return pcp | VLAN_CFI if pcp else 0
        return vlan | pcp | VLAN_CFI
