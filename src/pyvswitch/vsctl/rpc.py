"""ovs-vsctl's database connection: pyvswitch.ovsdb.client's blocking
client, opened with ovs-vsctl's wording for failures.

ovs-vsctl says "unix:PATH: database connection failed (REASON)" where
ovsdb-client says 'failed to connect to "unix:PATH" (REASON)'.  Remotes are
OVS's: `unix:`, `tcp:`, `ssl:` and the passive `punix:`, `ptcp:`, `pssl:`;
of a comma-separated list (a clustered database) the first that answers is
used.
"""

from __future__ import annotations

from pyvswitch.ovsdb import client, jsonrpc


class ConnectionFailed(Exception):
    """The remote could not be reached or broke; the message is OVS's wording."""


class Connection:
    def __init__(self, c: client.Client) -> None:
        self.client = c

    @staticmethod
    def open(remote: str, ssl: tuple | None = None) -> "Connection":
        """Connects to the first of remote's comma-separated remotes that
        answers; ssl is (private key, certificate, CA certificate) files."""
        reason = "Address family not supported by protocol"
        for target in remote.split(","):
            if target.partition(":")[0] not in ("unix", "tcp", "ssl", "punix", "ptcp", "pssl"):
                continue
            try:
                return Connection(client.Client.open(target, client.SslConfig(*ssl) if ssl else None))
            except client.ClientError as e:
                reason = str(e).rpartition(" (")[2].rstrip(")") or "Connection refused"
        raise ConnectionFailed(f"{remote}: database connection failed ({reason})")

    def request(self, method: str, params: list):
        return self.result(method, self.send(method, params))

    def send(self, method: str, params: list):
        """Sends a request without waiting for its reply; returns the id to give `result`."""
        try:
            return self.client.send_request(method, params)
        except client.ClientError as e:
            raise ConnectionFailed(f"{self.client.name}: {e}") from None

    def result(self, method: str, ident):
        """Waits for the reply to the request `send` sent; returns its result."""
        try:
            reply = self.client.wait_reply(ident)
            if isinstance(reply, jsonrpc.ErrorReply):
                raise client.RpcError(method, reply.error)
        except client.ClientError as e:
            raise ConnectionFailed(f"{self.client.name}: {e}") from None
        return reply.result

    def next_update(self, timeout: float | None = None) -> dict | None:
        """The table-updates of the next monitor "update", or None at the timeout."""
        try:
            n = self.client.next_notification(timeout)
        except TimeoutError:
            return None
        except client.ClientError as e:
            raise ConnectionFailed(f"{self.client.name}: {e}") from None
        return n.params[1] if n.method == "update" and len(n.params) > 1 else {}

    def get_schema(self, db: str):
        return self.request("get_schema", [db])

    def transact(self, db: str, ops: list):
        return self.request("transact", [db, *ops])

    def close(self) -> None:
        self.client.close()
