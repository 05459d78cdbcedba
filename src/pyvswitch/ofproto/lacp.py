"""LACP (IEEE 802.1AX): agreeing with the switch at the other end which links of a bond
may carry traffic.

What: an `Lacp` speaks the Link Aggregation Control Protocol for one bond.  It
encodes and decodes LACPDUs (slow-protocol frames, ethertype 0x8809, to
01:80:c2:00:00:02), keeps per member what the partner last said, and tells the
bond which members may be enabled.  Pure: `receive(member, frame, now)` and
`run(now)` take time as an argument and return the frames to transmit; the
owner sends them and feeds received PDUs in.

Per member the receive state is CURRENT (a PDU came within the timeout: 3 s
with lacp-time fast, 90 s slow), then EXPIRED (one more timeout, the partner is
asked to hurry by setting its timeout bit), then DEFAULTED (the partner is
forgotten).  A member is attached when it is not defaulted and its partner
offers aggregation with the same partner system and key as the bond's other
attached members (the first such member by port number leads).  A member may
be enabled when it is attached and the partner says it is in sync.  The bond
is "negotiated" while any member is not defaulted, as in OVS.

The actor's state in each PDU: activity (lacp=active), timeout (fast),
aggregation always, synchronization, collecting and distributing once
attached, defaulted or expired as the receive state says.  PDUs go out every
30 s (1 s if the partner asked for short timeouts) from an active actor, or
from a passive one whose partner is active, and at once whenever what we would
say changed or the partner's view of us is wrong ("need to transmit").
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

LACP_DST = 0x0180C2000002
ETH_TYPE_SLOW = 0x8809
SUBTYPE_LACP = 1

ACTIVITY, TIMEOUT, AGGREGATION, SYNC, COLLECTING, DISTRIBUTING, DEFAULTED, EXPIRED = (
    1 << i for i in range(8))
_STATE_NAMES = ((ACTIVITY, "activity"), (TIMEOUT, "timeout"), (AGGREGATION, "aggregation"),
                (SYNC, "synchronized"), (COLLECTING, "collecting"),
                (DISTRIBUTING, "distributing"), (DEFAULTED, "defaulted"), (EXPIRED, "expired"))

FAST_TX, SLOW_TX = 1.0, 30.0            # periodic transmission, seconds
FAST_TIMEOUT, SLOW_TIMEOUT = 3.0, 90.0  # receive timeouts

# subtype, version; actor TLV; partner TLV; collector TLV; terminator; 50 reserved bytes.
_INFO = struct.Struct("!BBH6sHHHB3x")   # TLV type, length, then the info
_PDU = struct.Struct("!BB20s20sBBH12sBB50x")
assert _INFO.size == 20 and _PDU.size == 110


@dataclass(frozen=True, slots=True)
class Info:
    """One side's identity and state, as a PDU carries it."""
    sys_priority: int = 0
    sys_id: bytes = bytes(6)
    key: int = 0
    port_priority: int = 0
    port_id: int = 0
    state: int = 0

    def pack(self, tlv_type: int) -> bytes:
        return _INFO.pack(tlv_type, 20, self.sys_priority, self.sys_id, self.key,
                          self.port_priority, self.port_id, self.state)


def encode(src_mac: bytes, actor: Info, partner: Info) -> bytes:
    """An LACPDU frame from src_mac."""
    body = _PDU.pack(SUBTYPE_LACP, 1, actor.pack(1), partner.pack(2), 3, 16, 0, bytes(12), 0, 0)
    return LACP_DST.to_bytes(6, "big") + src_mac + ETH_TYPE_SLOW.to_bytes(2, "big") + body


def decode(frame: bytes) -> tuple[Info, Info] | None:
    """(actor, partner) of an LACPDU frame, or None if it is not a well-formed one."""
    if len(frame) < 14 + _PDU.size - 50 or frame[12:14] != b"\x88\x09" or frame[14] != 1:
        return None
    body = bytes(frame[14:14 + _PDU.size]).ljust(_PDU.size, b"\0")
    _sub, _ver, a, p, *_rest = _PDU.unpack(body)
    infos = []
    for raw, want in ((a, 1), (p, 2)):
        t, length, *fields = _INFO.unpack(raw)
        if t != want or length != 20:
            return None
        infos.append(Info(*fields))
    return infos[0], infos[1]


class RxStatus(enum.Enum):
    CURRENT = "current"
    EXPIRED = "expired"
    DEFAULTED = "defaulted"


@dataclass(slots=True)
class LacpMember:
    name: str
    port_id: int
    mac: bytes = bytes(6)
    status: RxStatus = RxStatus.DEFAULTED
    partner: Info = Info()
    rx_deadline: float | None = None
    tx_next: float = 0.0
    ntt: bool = True                    # need to transmit
    attached: bool = False
    last_sent: Info | None = None


@dataclass(slots=True)
class Lacp:
    name: str
    active: bool = True
    fast: bool = False
    sys_id: bytes = bytes(6)
    sys_priority: int = 65534
    members: dict[str, LacpMember] = field(default_factory=dict)

    @property
    def key(self) -> int:
        """The aggregation key: the lowest member port number, as OVS chooses it."""
        return min((m.port_id for m in self.members.values()), default=0)

    def configure(self, active: bool, fast: bool, sys_id: bytes, sys_priority: int,
                  members: dict[str, tuple[int, bytes]]) -> None:
        """Sets the actor's settings and the members (name -> (port number, MAC))."""
        if (active, fast, sys_id, sys_priority) != (self.active, self.fast, self.sys_id,
                                                    self.sys_priority):
            for m in self.members.values():
                m.ntt = True
        self.active, self.fast, self.sys_id, self.sys_priority = active, fast, sys_id, sys_priority
        for name in [n for n in self.members if n not in members]:
            del self.members[name]
        for name, (port_id, mac) in members.items():
            m = self.members.get(name)
            if m is None:
                self.members[name] = LacpMember(name, port_id, mac)
            else:
                m.port_id, m.mac = port_id, mac
        self._update_attached()

    @property
    def negotiated(self) -> bool:
        return any(m.status is not RxStatus.DEFAULTED for m in self.members.values())

    def may_enable(self, name: str) -> bool:
        m = self.members.get(name)
        return m is not None and m.attached and bool(m.partner.state & SYNC)

    def actor(self, m: LacpMember) -> Info:
        state = AGGREGATION
        if self.active:
            state |= ACTIVITY
        if self.fast:
            state |= TIMEOUT
        if m.attached:
            state |= SYNC | COLLECTING | DISTRIBUTING
        if m.status is RxStatus.DEFAULTED:
            state |= DEFAULTED
        elif m.status is RxStatus.EXPIRED:
            state |= EXPIRED
        return Info(self.sys_priority, self.sys_id, self.key, 65535, m.port_id, state)

    def _timeout(self) -> float:
        return FAST_TIMEOUT if self.fast else SLOW_TIMEOUT

    def receive(self, name: str, frame: bytes, now: float) -> bool:
        """Takes a PDU that arrived on member name; True if may_enable may have changed."""
        m = self.members.get(name)
        pdu = decode(frame) if m is not None else None
        if pdu is None:
            return False
        actor, partner = pdu
        before = (m.status, m.partner, m.attached)
        m.status = RxStatus.CURRENT
        m.partner = actor
        m.rx_deadline = now + self._timeout()
        mine = self.actor(m)
        if (partner.sys_id, partner.port_id, partner.key, partner.state) != \
                (mine.sys_id, mine.port_id, mine.key, mine.state):
            m.ntt = True
        self._update_attached()
        return (m.status, m.partner, m.attached) != before

    def _update_attached(self) -> None:
        cands = sorted((m for m in self.members.values()
                        if m.status is not RxStatus.DEFAULTED and m.partner.state & AGGREGATION),
                       key=lambda m: m.port_id)
        lead = cands[0] if cands else None
        for m in self.members.values():
            attached = lead is not None and m in cands and \
                (m.partner.sys_id, m.partner.key) == (lead.partner.sys_id, lead.partner.key)
            if attached != m.attached:
                m.attached = attached
                m.ntt = True

    def run(self, now: float) -> tuple[bool, list[tuple[str, bytes]]]:
        """Receive timeouts and transmissions: (whether may_enable may have changed,
        [(member, frame to send on it)])."""
        changed = False
        for m in self.members.values():
            if m.rx_deadline is not None and now >= m.rx_deadline:
                changed = True
                m.ntt = True
                if m.status is RxStatus.CURRENT:
                    m.status = RxStatus.EXPIRED
                    m.partner = Info(m.partner.sys_priority, m.partner.sys_id, m.partner.key,
                                     m.partner.port_priority, m.partner.port_id,
                                     (m.partner.state | TIMEOUT) & ~SYNC)
                    m.rx_deadline = now + self._timeout()
                else:
                    m.status = RxStatus.DEFAULTED
                    m.partner = Info()
                    m.rx_deadline = None
        if changed:
            self._update_attached()
        out = []
        for name in sorted(self.members):
            m = self.members[name]
            if not (self.active or m.partner.state & ACTIVITY):
                continue
            actor = self.actor(m)
            if actor != m.last_sent:
                m.ntt = True
            if m.ntt or now >= m.tx_next:
                out.append((name, encode(m.mac, actor, m.partner)))
                m.ntt = False
                m.last_sent = actor
                m.tx_next = now + (FAST_TX if m.partner.state & TIMEOUT else SLOW_TX)
        return changed, out

    def deadline(self) -> float | None:
        times = [m.rx_deadline for m in self.members.values() if m.rx_deadline is not None]
        times += [m.tx_next for m in self.members.values()
                  if self.active or m.partner.state & ACTIVITY]
        return min(times) if times else None

    def show(self, status_line: str) -> str:
        """lacp/show's text for this bond, shaped like OVS's."""
        out = [f"---- {self.name} ----",
               f"  status: {status_line}",
               f"  sys_id: {_mac(self.sys_id)}",
               f"  sys_priority: {self.sys_priority}",
               f"  aggregation key: {self.key}",
               f"  lacp_time: {'fast' if self.fast else 'slow'}", ""]
        for name in sorted(self.members):
            m = self.members[name]
            a, p = self.actor(m), m.partner
            out += [f"member: {name}: {m.status.value} {'attached' if m.attached else 'detached'}",
                    f"  port_id: {m.port_id}",
                    "  port_priority: 65535",
                    f"  may_enable: {str(self.may_enable(name)).lower()}", ""]
            for who, info in (("actor", a), ("partner", p)):
                out += [f"  {who} sys_id: {_mac(info.sys_id)}",
                        f"  {who} sys_priority: {info.sys_priority}",
                        f"  {who} port_id: {info.port_id}",
                        f"  {who} port_priority: {info.port_priority}",
                        f"  {who} key: {info.key}",
                        f"  {who} state: {state_text(info.state)}", ""]
        return "\n".join(out)


def state_text(state: int) -> str:
    return " ".join(n for bit, n in _STATE_NAMES if state & bit)


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)
