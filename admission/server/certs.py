"""A CA and a serving certificate for the webhook, made with `cryptography`.

The pure helpers take `now=` so tests can make expired or not-yet-valid certificates; the file
helpers write `ca.crt`, `ca.key`, `tls.crt`, `tls.key` (keys 0600). `serve` makes them only when
none are there (it never overwrites certificates it may not own; in a cluster the chart or
cert-manager renews them), and reloads the files when their content changes (see tls.py).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey
FILES = ("ca.crt", "tls.crt", "tls.key")
# RFC 1123 DNS labels, as Kubernetes checks names (IsDNS1123Label); `*` only as a first label.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
MAX_DNS_NAME = 253


@dataclass(frozen=True)
class Bundle:
    """PEM bytes of a CA and a serving certificate signed by it."""

    ca_cert: bytes
    ca_key: bytes
    cert: bytes
    key: bytes


def dns_label_problem(name: str) -> str:
    """Why `name` is not a DNS label as Kubernetes names Services and namespaces ("" if it is)."""
    if not DNS_LABEL.fullmatch(name):
        return (
            f"{name!r} is not a DNS label (at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit)"
        )
    return ""


def host_problem(host: str) -> str:
    """Why `host` cannot be a certificate's subject alternative name ("" when it can).

    An IP address, or a DNS name of RFC 1123 labels (a wildcard `*` only as the first one).
    """
    try:
        ipaddress.ip_address(host)
        return ""
    except ValueError:
        pass
    labels = host.lower().split(".")
    if labels and labels[0] == "*":
        labels = labels[1:]
    if (
        not host
        or len(host) > MAX_DNS_NAME
        or not labels
        or not all(DNS_LABEL.fullmatch(label) for label in labels)
    ):
        return (
            f"{host!r} is neither an IP address nor a DNS name (labels of letters, digits and "
            "'-', separated by dots)"
        )
    return ""


def service_names(service: str, namespace: str) -> list[str]:
    """The DNS names the API server may use for a Service: NAME, NAME.NS, NAME.NS.svc, ..."""
    return [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(
    common_name: str = "argo-admission-ca", *, now: dt.datetime | None = None, days: int = 3650
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed CA certificate and its key."""
    now = now or _utcnow()
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_serving(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    hosts: Sequence[str],
    *,
    now: dt.datetime | None = None,
    days: int = 365,
    client: bool = False,
) -> tuple[x509.Certificate, PrivateKey]:
    """A certificate for `hosts` (DNS names and IP addresses), signed by the CA."""
    if not hosts:
        raise ValueError("a serving certificate needs at least one host")
    for host in hosts:
        problem = host_problem(host)
        if problem:
            raise ValueError(problem)
    now = now or _utcnow()
    key = _key()
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    usages = [ExtendedKeyUsageOID.SERVER_AUTH] + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def make_bundle(hosts: Sequence[str], *, now: dt.datetime | None = None, days: int = 365) -> Bundle:
    """A fresh CA and a serving certificate for `hosts`, as PEM."""
    ca_cert, ca_key = make_ca(now=now, days=max(days, 3650))
    cert, key = make_serving(ca_cert, ca_key, hosts, now=now, days=days)
    pem = serialization.Encoding.PEM
    return Bundle(
        ca_cert.public_bytes(pem), _pem_key(ca_key), cert.public_bytes(pem), _pem_key(key)
    )


def default_hosts(
    service: str | None = None, namespace: str | None = None, extra: Iterable[str] = ()
) -> list[str]:
    """Service names (when given), then localhost and the loopback addresses, then `extra`."""
    hosts = service_names(service, namespace or "default") if service else []
    hosts += ["localhost", "127.0.0.1", "::1", *extra]
    return list(dict.fromkeys(hosts))


def write_bundle(directory: str | Path, bundle: Bundle) -> None:
    """Write the bundle's four files; keys readable by the owner only."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for name, data, mode in (
        ("ca.crt", bundle.ca_cert, 0o644),
        ("ca.key", bundle.ca_key, 0o600),
        ("tls.crt", bundle.cert, 0o644),
        ("tls.key", bundle.key, 0o600),
    ):
        tmp = out / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, out / name)  # readers never see a half-written file


def ensure_certs(
    directory: str | Path, hosts: Sequence[str] | None = None, *, days: int = 365
) -> bool:
    """Generate a bundle into `directory` unless tls.crt and tls.key are there; True if made."""
    out = Path(directory)
    if (out / "tls.crt").exists() and (out / "tls.key").exists():
        return False
    write_bundle(out, make_bundle(hosts or default_hosts(), days=days))
    return True
