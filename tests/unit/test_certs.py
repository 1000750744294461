"""Certificates made with `cryptography`: SANs for the Service, chains that verify, expiry."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from admission.server import certs


def test_generated_files_carry_the_service_names_and_loopback(tmp_path: Path) -> None:
    hosts = certs.default_hosts("argo-admission", "argo-admission")
    certs.write_bundle(tmp_path, certs.make_bundle(hosts))
    cert = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "argo-admission",
        "argo-admission.argo-admission",
        "argo-admission.argo-admission.svc",
        "argo-admission.argo-admission.svc.cluster.local",
        "localhost",
    ]
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert (tmp_path / "tls.key").stat().st_mode & 0o777 == 0o600


def test_the_serving_certificate_verifies_against_the_ca(tmp_path: Path) -> None:
    certs.write_bundle(tmp_path, certs.make_bundle(["localhost"]))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    assert client.verify_mode == ssl.CERT_REQUIRED  # loads: the CA is a valid trust anchor


def test_ensure_certs_generates_once(tmp_path: Path) -> None:
    assert certs.ensure_certs(tmp_path) is True
    first = (tmp_path / "tls.crt").read_bytes()
    assert certs.ensure_certs(tmp_path) is False
    assert (tmp_path / "tls.crt").read_bytes() == first
