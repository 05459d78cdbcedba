"""Pure packet foundations: header codecs, flow keys, match fields and matches.

Nothing in this package does I/O.  `headers` encodes and decodes the fixed
protocol headers and builds test frames; `flow` extracts a `FlowKey` from a
frame; `fields` is the one table of match fields; `match` is a set of field
values and masks with OVS's text syntax; `nx_match` and `ofp10_match` put
matches on the wire (NXM and OXM entries; OpenFlow 1.0's fixed match).
"""
