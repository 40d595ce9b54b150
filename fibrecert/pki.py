"""A local PKI for the reference sandbox and for the suite's own run-time identities.

Real X.509 certificates made with `cryptography`: one CA, a server certificate for loopback, and one
client certificate per party (subject CN = the party's identifier, profile rule 10). Generated once
into a cache directory and reused; private keys are written with mode 0600 and never printed.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = _dt.timedelta(days=825)


@dataclass(frozen=True)
class Identity:
    """A certificate and its private key on disk."""

    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fibrecert"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    from fibrecert.safefiles import write_private

    write_private(path, data)  # mode 0600, atomically, whether or not the file existed


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class CertificateAuthority:
    """A CA whose key lives on disk; issues server and client certificates."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, cert_path: Path):
        self.cert, self.key, self.cert_path = cert, key, cert_path

    @classmethod
    def create(cls, directory: Path, name: str = "fibrecert sandbox CA") -> "CertificateAuthority":
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = _dt.datetime.now(_dt.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256())
        )
        cert_path, key_path = directory / "ca.pem", directory / "ca.key"
        _write_cert(cert_path, cert)
        _write_key(key_path, key)
        return cls(cert, key, cert_path)

    @classmethod
    def load(cls, directory: Path) -> "CertificateAuthority":
        cert_path = directory / "ca.pem"
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(cert, key, cert_path)

    def issue(self, directory: Path, stem: str, common_name: str, *, server: bool) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _dt.datetime.now(_dt.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(self.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False)
        )
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.IPAddress(ipaddress.ip_address("::1")),
            ]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        identity = Identity(directory / f"{stem}.crt", directory / f"{stem}.key")
        _write_cert(identity.cert, cert)
        _write_key(identity.key, key)
        return identity


@dataclass(frozen=True)
class SandboxPKI:
    """Everything the reference sandbox and a client of it need."""

    directory: Path
    ca: Path
    server: Identity
    clients: dict[str, Identity]  # keyed by subject CN (the party identifier)


def ensure_sandbox_pki(directory: Path, parties: dict[str, str]) -> SandboxPKI:
    """Create (first use) or reuse the sandbox PKI in `directory`.

    `parties` maps a file stem (`buyer`, `other`, `seller`) to the identity's CN. A cached PKI is
    reused only when every file is present and the CNs match; otherwise it is made anew, in a
    private folder renamed into place, so that parallel processes never see half a PKI.
    """
    directory = Path(directory)
    wanted = "\n".join(f"{stem}={cn}" for stem, cn in sorted(parties.items()))

    def complete(d: Path) -> bool:
        files = [d / n for n in ("ca.pem", "ca.key", "server.crt", "server.key")]
        files += [d / f"{stem}.{ext}" for stem in parties for ext in ("crt", "key")]
        marker = d / "parties.txt"
        return marker.is_file() and marker.read_text() == wanted and all(f.is_file() for f in files)

    if not complete(directory):
        directory.parent.mkdir(parents=True, exist_ok=True)
        from fibrecert.safefiles import private_tempdir, sweep_stale

        sweep_stale(directory.parent, (".pki-",))  # half-made PKIs (CA keys) of processes that were killed
        staging = private_tempdir(prefix=".pki-", dir=directory.parent)
        ca = CertificateAuthority.create(staging)
        ca.issue(staging, "server", "localhost", server=True)
        for stem, cn in parties.items():
            ca.issue(staging, stem, cn, server=False)
        (staging / "parties.txt").write_text(wanted)
        if directory.exists() and not complete(directory):
            shutil.rmtree(directory, ignore_errors=True)
        (staging / ".fibrecert-owner").unlink(missing_ok=True)  # a finished PKI is no temporary folder
        try:
            os.rename(staging, directory)
        except OSError:  # another process won the race: use its PKI
            shutil.rmtree(staging, ignore_errors=True)
    return SandboxPKI(
        directory=directory,
        ca=directory / "ca.pem",
        server=Identity(directory / "server.crt", directory / "server.key"),
        clients={cn: Identity(directory / f"{stem}.crt", directory / f"{stem}.key")
                 for stem, cn in parties.items()},
    )


def make_untrusted_identity(directory: Path, common_name: str) -> Identity:
    """A client certificate from a brand-new CA no target trusts (SEC-002), made at run time."""
    ca = CertificateAuthority.create(directory / "untrusted-ca", name="fibrecert untrusted CA")
    return ca.issue(directory, "untrusted-client", common_name, server=False)


def subject_common_name(pem: str) -> str | None:
    """The subject CN of a PEM certificate, or None."""
    cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None
