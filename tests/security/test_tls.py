"""TLS end to end with a certificate the test makes: the SDK with the CA works, plaintext and
a client that trusts another CA are refused."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshq.api.connection import Connection
from meshq.core.errors import FailedPrecondition
from meshq.security.tls import server_credentials
from meshq.v1 import storage_pb2, storage_pb2_grpc

from .conftest import LiveServer, start_live_server, stop_live_server


def self_signed(folder: Path, name: str = "meshq-test") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
async def tls_server(tmp_path_factory: pytest.TempPathFactory
                     ) -> AsyncIterator[tuple[LiveServer, Path]]:
    base = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(base / "pki")
    live, components = await start_live_server(base / "data", tls=(cert, key))
    try:
        yield live, cert
    finally:
        await stop_live_server(live, components)


async def _stat(conn: Connection) -> grpc.StatusCode:
    stub = conn.stub(storage_pb2_grpc.StorageServiceStub)
    try:
        await stub.StatFile(storage_pb2.StatFileRequest(room="tls-room", path="nothing.txt"),
                            metadata=conn.metadata, timeout=5)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_sdk_with_the_ca_gets_through_tls_and_auth(tls_server: tuple[LiveServer, Path]
                                                         ) -> None:
    live, cert = tls_server
    async with Connection(server=live.address, token=live.admin_token, tls_ca=cert) as conn:
        code = await _stat(conn)
    # past TLS and auth: the storage service (or its stand-in) answered
    assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED)


async def test_plaintext_and_an_untrusted_ca_are_refused(
    tls_server: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    live, _ = tls_server
    async with Connection(server=live.address, token=live.admin_token) as plain:
        assert await _stat(plain) == grpc.StatusCode.UNAVAILABLE
    other_ca, _ = self_signed(tmp_path, name="someone-else")
    async with Connection(server=live.address, token=live.admin_token, tls_ca=other_ca) as conn:
        assert await _stat(conn) == grpc.StatusCode.UNAVAILABLE


async def test_tls_without_a_token_is_still_unauthenticated(
    tls_server: tuple[LiveServer, Path]
) -> None:
    live, cert = tls_server
    async with Connection(server=live.address, token=None, tls_ca=cert) as conn:
        conn.token = None  # not even the local admin token
        assert await _stat(conn) == grpc.StatusCode.UNAUTHENTICATED


def test_bad_pem_files_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with pytest.raises(FailedPrecondition, match="not a PEM certificate"):
        server_credentials(key, key)
    with pytest.raises(FailedPrecondition, match="cannot read"):
        server_credentials(tmp_path / "missing.crt", key)
    server_credentials(cert, key)
