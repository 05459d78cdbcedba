"""ovs-vsctl: configure Open vSwitch through its database, as OVS 3.1's tool does.

The command table is declarative (command.py: name, argument syntax, options,
prerequisites, run, post-process): dbcmds.py holds the generic database
commands, vswitch.py the bridge/port/interface/controller/manager/SSL ones.
parse.py reads the command line; view.py is the fetched part of the database
that records changes and turns them into one transaction with IDL-style
"wait" preconditions; runner.py drives an invocation (fetch, run, commit or
retry, print, wait for ovs-vswitchd); lazy_schema.py parses the server's
schema a column at a time.  The shell is pyvswitch.cli.ovs_vsctl.

Agents run ovs-vsctl thousands of times, so a call's import path is kept
lean: no re, json, enum, dataclasses, typing, socket, uuid or random at run
time, heavier modules imported where a rare command needs them, and only
the command modules a call's commands are in (tests/vsctl/test_startup.py).
The launcher runs it without site (pyvswitch.launchers); docs/vsctl-notes.md
has the measured costs.
"""
