#!/usr/bin/env bash
# Installs what pyvswitch and its tests need, then starts the switch with its embedded default
# database.  Run as root from the repository:   ./install.sh [--no-start]
set -eu
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # python3-venv for the virtual environment; openvswitch-switch is the reference the tests
  # compare against; the rest are the tools the system tests and benchmarks drive.
  apt-get install -y -qq python3 python3-venv python3-pip openvswitch-switch iproute2 \
      iputils-ping iperf3 netsniff-ng ethtool procps >/dev/null
  # The reference must not run as the system's switch: pyvswitch uses OVS's default paths.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now openvswitch-switch ovs-vswitchd ovsdb-server >/dev/null 2>&1 || true
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/pip install -q -e '.[test]'
# Lean launchers over pip's console scripts (python -IS: no site; the tools on the system's build of
# the same Python): starting Python is most of an ovs-vsctl call (see src/pyvswitch/launchers.py).
.venv/bin/python -m pyvswitch.launchers .venv/bin >/dev/null
# Bytecode up front: every tool start would otherwise compile what it imports (ovs-vsctl runs often).
.venv/bin/python -m compileall -q src
if [ "${1:-}" != "--no-start" ]; then
  .venv/bin/pyvswitch start
fi
