"""ovs-vswitchd: the switch daemon: OVSDB configuration in, bridges and status out."""
