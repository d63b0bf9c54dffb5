"""A local certificate authority and the broker's certificate, for ``kafka start --tls``.

Generated with ``cryptography`` (never hand-rolled) into ``<state_dir>/kafka/tls/``: the CA
certificate (public: clients verify the broker with it), the CA key and the broker's key
(owner-only), and the broker's certificate for 127.0.0.1 and localhost, which clients check
by name. Kafka reads them as PEM files; librdkafka and the Java clients trust ``ca.pem``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from callstream.local.credentials import write_private

VALID_DAYS = 825


@dataclass(frozen=True)
class LocalTls:
    directory: Path

    @property
    def ca_certificate(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def broker_keystore(self) -> Path:
        """The broker's private key and certificate chain in one PEM file (Kafka's PEM keystore)."""
        return self.directory / "broker-keystore.pem"

    def exists(self) -> bool:
        return self.ca_certificate.exists() and self.broker_keystore.exists()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "callstream local"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def generate(directory: Path) -> LocalTls:
    """A new CA and broker certificate in ``directory`` (an existing pair is kept)."""
    tls = LocalTls(Path(directory))
    if tls.exists():
        return tls
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("callstream local CA")).issuer_name(_name("callstream local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    broker_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    broker = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
              .public_key(broker_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))

    def pem_key(key: ec.EllipticCurvePrivateKey) -> str:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()

    def pem_cert(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    tls.directory.mkdir(parents=True, exist_ok=True)
    write_private(tls.directory / "ca.key", pem_key(ca_key))
    write_private(tls.broker_keystore, pem_key(broker_key) + pem_cert(broker) + pem_cert(ca))
    tls.ca_certificate.write_text(pem_cert(ca))
    return tls
