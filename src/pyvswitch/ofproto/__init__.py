"""OpenFlow switch semantics: flow tables and their classifier, translation, NORMAL.

Modules: `classifier` (tuple space search), `ofactions` (OpenFlow actions and their
ovs-ofctl text), `flow_table` (rules, flow-mod semantics, timeouts, counters),
`mac_learning` (the per-bridge MAC table), `vlan` (port VLAN modes), `xlate` (a packet
through the tables into datapath actions plus its megaflow mask), `ofproto` (bridges,
ports, patch ports and the backer that shares one datapath between bridges; the API the
reconciler uses), `trace` (ofproto/trace, fdb/*, dpif/show text).
"""
