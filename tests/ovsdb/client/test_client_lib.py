"""The blocking client library against a scripted peer on a socketpair, and
its remotes (passive ones included) against the reference ovsdb-server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading

import pytest

from client_harness import TEST_SCHEMA, Server, our_client
from pyvswitch.ovsdb import jsonrpc
from pyvswitch.ovsdb.client import Client, ClientError, ConnectionClosed, RpcError, open_socket
from util import needs_reference, ours, ref, stop_pid, wait_until


def peer(script):
    """A client on one end of a socketpair and a thread running script(sock) on the other."""
    a, b = socket.socketpair()
    t = threading.Thread(target=script, args=(b,), daemon=True)
    t.start()
    return Client(a, "test"), t


def read_msgs(sock, framer, n):
    msgs = []
    while len(msgs) < n:
        data = sock.recv(65536)
        if not data:
            break
        msgs += framer.feed(data)
    return msgs


def test_call_answers_echo_and_keeps_notifications():
    seen = []

    def script(s):
        f = jsonrpc.Framer()
        req = read_msgs(s, f, 1)[0]
        # Echo first, then a notification, then the reply split in two writes.
        s.sendall(b'{"method":"echo","params":["x"],"id":"e1"}{"method":"update","params":[1,{}],"id":null}')
        seen.append(read_msgs(s, f, 1)[0])
        reply = json.dumps({"id": req.id, "result": [2.0, 1e2, 0.5], "error": None}).encode()
        s.sendall(reply[:7])
        s.sendall(reply[7:])
        s.close()

    c, t = peer(script)
    assert c.call("list_dbs", []) == [2, 100, 0.5]
    t.join(5)
    assert seen == [jsonrpc.Reply(["x"], "e1")]
    n = c.next_notification(timeout=1)
    assert (n.method, n.params) == ("update", [1, {}])
    with pytest.raises(ConnectionClosed, match="End of file"):
        c.next_notification(timeout=1)


def test_error_reply_and_timeout():
    def script(s):
        f = jsonrpc.Framer()
        req = read_msgs(s, f, 1)[0]
        s.sendall(jsonrpc.encode(jsonrpc.ErrorReply({"error": "unknown method"}, req.id)))
        read_msgs(s, f, 1)  # a second request, never answered
        s.recv(1)

    c, t = peer(script)
    with pytest.raises(RpcError) as e:
        c.call("bogus", [])
    assert e.value.error == {"error": "unknown method"}
    with pytest.raises(TimeoutError):
        c.call("list_dbs", [], timeout=0.05)
    c.close()


def test_bad_remotes():
    with pytest.raises(ClientError, match=r'failed to connect or listen to "foo:bar" \(Address family'):
        open_socket("foo:bar")
    with pytest.raises(ClientError, match=r'failed to connect to "unix:/nonexistent/x" \(No such file'):
        open_socket("unix:/nonexistent/x")
    with pytest.raises(ClientError, match=r"failed to connect to \"ssl:.*\" \(Protocol not available\)"):
        s = socket.create_server(("127.0.0.1", 0))
        try:
            open_socket(f"ssl:127.0.0.1:{s.getsockname()[1]}")
        finally:
            s.close()


@needs_reference
@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_tcp_and_passive_unix(tmp_path):
    s = Server(tmp_path, [TEST_SCHEMA])
    try:
        port = subprocess.run([ref("ovs-appctl"), "-t", str(tmp_path / "ovsdb-server.ctl"),
                               "ovsdb-server/add-remote", "ptcp:0:127.0.0.1"], env=s.env, capture_output=True)
        assert port.returncode == 0
        ports = wait_until(lambda: _bound_port(s), what="ptcp port")
        r = our_client(s.env, "list-dbs", f"tcp:127.0.0.1:{ports}")
        assert (r.returncode, r.stdout) == (0, "Test\n_Server\n")

        # punix: our client listens; the server connects to it actively.
        listen = tmp_path / "client.sock"
        p = subprocess.Popen([ours("ovsdb-client"), "list-dbs", f"punix:{listen}"],
                             env=s.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(listen.exists, what="client to listen")
            subprocess.run([ref("ovs-appctl"), "-t", str(tmp_path / "ovsdb-server.ctl"),
                            "ovsdb-server/add-remote", f"unix:{listen}"], env=s.env, check=True,
                           capture_output=True)
            out, err = p.communicate(timeout=10)
        finally:
            stop_pid(p.pid)
        assert (p.returncode, out) == (0, "Test\n_Server\n")
        assert f"|ovsdb_client|INFO|punix:{listen}: waiting for connection..." in err
    finally:
        s.close()


def _bound_port(server) -> int | None:
    """The port the server's ptcp:0 remote was given (from the socket table)."""
    r = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if f"pid={server.proc.pid}," in line:
            addr = line.split()[3]
            return int(addr.rsplit(":", 1)[1])
    return None


@needs_reference
def test_lock_and_steal(tmp_path):
    s = Server(tmp_path, [TEST_SCHEMA])
    out = tmp_path / "lock.out"
    try:
        with open(out, "w") as f:
            p = subprocess.Popen([ours("ovsdb-client"), "lock", s.remote, "mylock"], env=s.env, stdout=f,
                                 stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: out.read_text() == '{"locked":true}\nlocked\n["mylock"]\n', what="lock")
            thief = subprocess.Popen([ref("ovsdb-client"), "steal", s.remote, "mylock"], env=s.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_until(lambda: out.read_text().endswith('stolen\n["mylock"]\n'), what="stolen")
            finally:
                stop_pid(thief.pid)
                thief.wait(5)
        finally:
            stop_pid(p.pid)
            p.wait(5)
    finally:
        s.close()


def _make_pki(d):
    """A CA and two certificates it signed (EC keys: quick to make)."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test-ca", "-days", "2")
    for name in ("server", "client"):
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2")


@needs_reference
@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("ss") is None,
                    reason="needs openssl and ss")
def test_ssl_remote(tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    _make_pki(pki)
    s = Server(tmp_path, [TEST_SCHEMA], extra_args=[
        "--remote=pssl:0:127.0.0.1", f"--private-key={pki / 'server.key'}",
        f"--certificate={pki / 'server.crt'}", f"--ca-cert={pki / 'ca.crt'}"])
    try:
        port = wait_until(lambda: _bound_port(s), what="pssl port")
        keys = ["-p", str(pki / "client.key"), "-c", str(pki / "client.crt"), "-C", str(pki / "ca.crt")]
        r = our_client(s.env, *keys, "list-dbs", f"ssl:127.0.0.1:{port}")
        assert (r.returncode, r.stdout, r.stderr) == (0, "Test\n_Server\n", "")
        r = our_client(s.env, *keys, "dump", f"ssl:127.0.0.1:{port}", "Test", "T2")
        assert r.stdout == "T2 table\n_uuid name\n----- ----\n"
        # Without keys: refused before connecting, in OVS's words.
        r = our_client(s.env, "list-dbs", f"ssl:127.0.0.1:{port}")
        assert r.returncode == 1
        assert r.stderr.endswith(f'ovsdb-client: failed to connect to "ssl:127.0.0.1:{port}" '
                                 "(Protocol not available)\n")
        assert "|stream_ssl|ERR|CA certificate must be configured to use SSL\n" in r.stderr
    finally:
        s.close()


def test_message_stream_whole_byte_by_byte_and_garbage():
    from pyvswitch.ovsdb.ovs_json import DECODER as JSON_DECODER

    def MessageStream():   # the client's framing: the one Framer, numbers typed as OVS types them
        return jsonrpc.Framer(decoder=JSON_DECODER)

    msgs = [{"id": 1, "result": {"s": 'a}"}{', "n": [2.0, 1.5]}, "error": None},
            {"method": "update", "params": [None, {"t": {"é": "☃}"}}], "id": None},
            {"method": "echo", "params": [], "id": "x"}]
    data = b"".join(json.dumps(m, ensure_ascii=False).encode() + b"\n" for m in msgs)
    whole = MessageStream().feed(data)
    assert whole == [jsonrpc.Reply({"s": 'a}"}{', "n": [2, 1.5]}, 1),
                     jsonrpc.Notification("update", [None, {"t": {"é": "☃}"}}]),
                     jsonrpc.Request("echo", [], "x")]
    s = MessageStream()
    one_by_one = []
    for i in range(len(data)):
        one_by_one += s.feed(data[i:i + 1])
    assert one_by_one == whole
    with pytest.raises(jsonrpc.JsonRpcError):
        MessageStream().feed(b'{"id": 1, x}')
