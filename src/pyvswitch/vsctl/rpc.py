"""A blocking JSON-RPC connection to an OVSDB server, just enough for ovs-vsctl.

ovs-vsctl makes a handful of requests one after another, so a plain socket
and the sans-I/O framer suffice; no event loop is needed (and none is
imported, which keeps start-up fast).  Remotes are OVS's active forms:
`unix:PATH` and `tcp:HOST:PORT` (the first of a comma-separated list).
Server "echo" requests are answered while waiting for a reply.
"""

from __future__ import annotations

import os
import socket

from pyvswitch.ovsdb import jsonrpc


class ConnectionFailed(Exception):
    """The remote could not be reached; the message is OVS's wording."""


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.framer = jsonrpc.Framer()
        self.next_id = 0
        self.pending: list = []

    @staticmethod
    def open(remote: str) -> "Connection":
        target = remote.split(",")[0]
        kind, _, rest = target.partition(":")
        try:
            if kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(rest)
            elif kind == "tcp":
                host, _, port = rest.rpartition(":")
                host = host.strip("[]")
                sock = socket.create_connection((host, int(port)))
            else:
                raise ConnectionFailed(f"{target}: database connection failed (Address family not supported "
                                       "by protocol)")
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            raise ConnectionFailed(f"{target}: database connection failed ({reason})") from None
        except ValueError:
            raise ConnectionFailed(f"{target}: database connection failed (Invalid argument)") from None
        return Connection(sock)

    def request(self, method: str, params: list):
        self.next_id += 1
        ident = self.next_id
        self.sock.sendall(jsonrpc.encode(jsonrpc.Request(method, params, ident)))
        while True:
            for msg in self.pending:
                if isinstance(msg, (jsonrpc.Reply, jsonrpc.ErrorReply)) and msg.id == ident:
                    self.pending.remove(msg)
                    if isinstance(msg, jsonrpc.ErrorReply):
                        raise ConnectionFailed(f"{method} request failed: {jsonrpc.dumps(msg.error)}")
                    return msg.result
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionFailed("connection closed by the database server")
            for msg in self.framer.feed(data):
                if isinstance(msg, jsonrpc.Request) and msg.method == "echo":
                    self.sock.sendall(jsonrpc.encode(jsonrpc.Reply(msg.params, msg.id)))
                else:
                    self.pending.append(msg)

    def get_schema(self, db: str):
        return self.request("get_schema", [db])

    def transact(self, db: str, ops: list):
        return self.request("transact", [db, *ops])

    def close(self) -> None:
        self.sock.close()
