"""The serving TLS context follows tls.crt/tls.key by content, never loading a mismatched pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from admission.server import certs
from admission.server.tls import CertReloader, certificate_expiry


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    certs.write_bundle(tmp_path, certs.make_bundle(["localhost"]))
    return tmp_path


def reloader_for(directory: Path) -> CertReloader:
    return CertReloader(directory / "tls.crt", directory / "tls.key", check_seconds=0)


def test_the_same_files_keep_the_same_context(cert_dir: Path) -> None:
    reloader = reloader_for(cert_dir)
    first = reloader.context()
    (cert_dir / "tls.crt").touch()
    assert reloader.context() is first


def test_new_files_give_a_new_context(cert_dir: Path) -> None:
    reloader = reloader_for(cert_dir)
    first = reloader.context()
    certs.write_bundle(cert_dir, certs.make_bundle(["localhost"]))
    assert reloader.context() is not first


def test_a_half_written_rotation_keeps_the_previous_context(cert_dir: Path) -> None:
    reloader = reloader_for(cert_dir)
    first = reloader.context()
    (cert_dir / "tls.crt").write_bytes(certs.make_bundle(["localhost"]).cert)  # old key
    assert reloader.context() is first
    certs.write_bundle(cert_dir, certs.make_bundle(["localhost"]))
    assert reloader.context() is not first


def test_missing_files_at_start_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        reloader_for(tmp_path).context()


def test_files_are_checked_at_most_once_per_interval(cert_dir: Path) -> None:
    reloader = CertReloader(cert_dir / "tls.crt", cert_dir / "tls.key", check_seconds=3600)
    first = reloader.context()
    certs.write_bundle(cert_dir, certs.make_bundle(["localhost"]))
    assert reloader.context() is first


def test_the_expiry_is_the_served_certificates_and_follows_a_rotation(cert_dir: Path) -> None:
    reloader = reloader_for(cert_dir)
    first = reloader.expiry()
    assert first == certificate_expiry(cert_dir / "tls.crt")
    certs.write_bundle(cert_dir, certs.make_bundle(["localhost"], days=3))
    rotated = reloader.expiry()
    assert first is not None and rotated is not None
    assert first - rotated > 300 * 86400  # 365 days -> 3 days
    (cert_dir / "tls.crt").write_bytes(certs.make_bundle(["localhost"]).cert)  # old key
    assert reloader.expiry() == rotated  # what is served, not what is on disk


def test_no_expiry_without_a_certificate(tmp_path: Path) -> None:
    assert reloader_for(tmp_path).expiry() is None
