"""TLS for the gRPC server: credentials from PEM files, with errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import grpc

from meshq.core.errors import FailedPrecondition


def _read_pem(path: Path, what: str, marker: bytes) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise FailedPrecondition(f"cannot read the TLS {what} {path}: {err.strerror}") from None
    if marker not in data:
        raise FailedPrecondition(f"{path} is not a PEM {what} (no '{marker.decode()}' block)")
    return data


def server_credentials(cert_path: Path | str, key_path: Path | str) -> grpc.ServerCredentials:
    """Server credentials from a PEM certificate chain and its private key."""
    cert = _read_pem(Path(cert_path), "certificate", b"-----BEGIN CERTIFICATE-----")
    key = _read_pem(Path(key_path), "private key", b"PRIVATE KEY-----")
    return grpc.ssl_server_credentials([(key, cert)])
