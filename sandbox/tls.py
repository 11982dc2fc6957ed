"""Throw-away TLS material for loopback fakes.

``make_self_signed`` writes a short-lived self-signed certificate for ``127.0.0.1``/``localhost``
(made with ``cryptography``; no ``openssl`` binary needed). ``ca_bundle_with`` writes a CA bundle that
trusts the usual public CAs *and* that certificate, suitable for ``REQUESTS_CA_BUNDLE``: ``requests``
reads that variable whenever ``verify=True``, which is what azure-core's ``RequestsTransport`` passes by
default, so production code needs no ``connection_verify`` override.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
VALIDITY = dt.timedelta(days=2)
CERT_NAME = "sandbox-cert.pem"
KEY_NAME = "sandbox-key.pem"
BUNDLE_NAME = "sandbox-ca-bundle.pem"


def _build_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """Self-signed leaf for 127.0.0.1 that also passes Python 3.13's VERIFY_X509_STRICT checks."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    loopback = x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))
    san = x509.SubjectAlternativeName([loopback, x509.DNSName("localhost")])
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_self_signed(dirpath: Path | str) -> tuple[Path, Path]:
    """Write ``(certfile, keyfile)`` PEM files into ``dirpath``.

    The certificate: CN=127.0.0.1, SAN IP:127.0.0.1 and DNS:localhost, valid for two days.
    """
    directory = Path(dirpath)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build_certificate(key)
    certfile, keyfile = directory / CERT_NAME, directory / KEY_NAME
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pkcs8 = serialization.PrivateFormat.PKCS8
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()))
    keyfile.chmod(0o600)
    return certfile, keyfile


def _public_cas() -> Path:
    """The system CA bundle if present, else certifi's."""
    if SYSTEM_CA_BUNDLE.is_file():
        return SYSTEM_CA_BUNDLE
    import certifi

    return Path(certifi.where())


def ca_bundle_with(certfile: Path | str, dirpath: Path | str) -> Path:
    """Write a bundle = public CAs + ``certfile`` into ``dirpath`` and return its path."""
    directory = Path(dirpath)
    directory.mkdir(parents=True, exist_ok=True)
    public = _public_cas().read_text(encoding="ascii", errors="ignore").rstrip("\n")
    ours = Path(certfile).read_text(encoding="ascii")
    bundle = directory / BUNDLE_NAME
    bundle.write_text(f"{public}\n{ours}", encoding="ascii")
    return bundle
