# Helpers the bench scripts source (". "$HERE/lib.sh"): finding a program and stopping a daemon.

# tool BINDIR NAME: BINDIR/NAME if it is there, else NAME found on PATH (the reference daemons
# are in /usr/sbin, its tools in /usr/bin).
tool() { [ -x "$1/$2" ] && echo "$1/$2" || command -v "$2"; }

# stop_pidfile PIDFILE: SIGTERM to the daemon PIDFILE names, up to 5 s for it to exit (gone or
# zombie), then SIGKILL.  Nothing to do when PIDFILE is missing.
stop_pidfile() {
  local pid st; pid=$(cat "$1" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 100); do
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
    [ "$st" = Z ] && break; sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
}
