"""unixctl: the JSON-RPC control channel ovs-appctl speaks to every daemon."""
