"""OVSDB: the RFC 7047 database engine, storage, JSON-RPC and server core."""
