"""TLS served directly by the receiver (HOPSTREAM_RECEIVER_TLS_CERT / _KEY)."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hopstream.settings import Settings
from services.receiver.app import _ssl_context, create_app
from tests.integration.receiver_support import OFFERS, SECTIONS

pytestmark = pytest.mark.kafka


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def test_receiver_serves_https_with_the_configured_certificate(
    settings: Settings, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    tls = settings.replace(data_dir=tmp_path, receiver_tls_cert=str(cert),
                           receiver_tls_key=str(key))
    context = _ssl_context(tls)
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
    server = TestServer(create_app(tls, OFFERS, SECTIONS))
    await server.start_server(ssl=context)
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as session:
            url = f"https://localhost:{server.port}/healthz"
            async with session.get(url, ssl=trust) as response:
                assert response.status == 200
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                # really the certificate we configured: untrusted by default
                await session.get(url, ssl=ssl.create_default_context())
    finally:
        await server.close()


def test_no_tls_settings_means_plain_http(settings: Settings) -> None:
    assert _ssl_context(settings) is None
