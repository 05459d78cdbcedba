"""Test certificates: a CA and leaf certificates signed by it, made with the openssl CLI."""

import subprocess
from pathlib import Path


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d: Path, ca_name: str = "test-ca") -> dict:
    """Creates ca, server and client key/cert pairs in d; returns their paths."""
    _openssl("req", "-x509", *_EC_KEY, "-nodes", "-days", "2", "-subj", f"/CN={ca_name}",
             "-keyout", "ca-key.pem", "-out", "ca-cert.pem", cwd=d)
    out = {"ca-cert": str(d / "ca-cert.pem")}
    for who in ("server", "client"):
        _openssl("req", *_EC_KEY, "-nodes", "-subj", f"/CN={who}",
                 "-keyout", f"{who}-key.pem", "-out", f"{who}.csr", cwd=d)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca-cert.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-days", "2", "-out", f"{who}-cert.pem", cwd=d)
        out[f"{who}-key"] = str(d / f"{who}-key.pem")
        out[f"{who}-cert"] = str(d / f"{who}-cert.pem")
    # A certificate from another CA, which peers must refuse.
    _openssl("req", "-x509", *_EC_KEY, "-nodes", "-days", "2", "-subj", "/CN=rogue",
             "-keyout", "rogue-key.pem", "-out", "rogue-cert.pem", cwd=d)
    out["rogue-key"] = str(d / "rogue-key.pem")
    out["rogue-cert"] = str(d / "rogue-cert.pem")
    return out
