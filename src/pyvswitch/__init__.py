"""pyvswitch: Open vSwitch rebuilt in Python."""

__version__ = "0.1.0"
# The OVS release whose surface we reproduce; tools print it in --version.
OVS_COMPAT_VERSION = "3.1.0"
