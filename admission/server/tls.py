"""The serving TLS context, following the certificate files on disk.

gunicorn asks for a context on every new connection; `CertReloader.context()` answers from a
cache and, at most once a second, hashes tls.crt and tls.key: when their content changed it
builds a new context. Connections already open keep the context they were accepted with, so a
rotation (cert-manager, a Secret update) fails nothing in flight. A pair that does not load
(rotation half-written: new cert, old key) keeps the previous context until the pair matches.
The loaded certificate's expiry is kept for the metrics.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import threading
import time
from pathlib import Path
from typing import Final

from cryptography import x509

log = logging.getLogger("argo_admission.tls")

CHECK_SECONDS: Final = 1.0


class CertReloader:
    """A server SSLContext for tls.crt/tls.key, rebuilt when their content changes."""

    def __init__(
        self, certfile: str | Path, keyfile: str | Path, *, check_seconds: float = CHECK_SECONDS
    ) -> None:
        self.certfile, self.keyfile = Path(certfile), Path(keyfile)
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._digest = b""
        self._refused = b""  # a pair that did not load: not retried until the files change
        self._problem: tuple[bytes, str] = (b"", "")
        self._checked = 0.0
        self._context: ssl.SSLContext | None = None
        self._expiry: float | None = None

    def context(self) -> ssl.SSLContext:
        """The current context; checks the files when the last check is over a second old."""
        now = time.monotonic()
        if self._context is None or now - self._checked >= self.check_seconds:
            with self._lock:
                if self._context is None or now - self._checked >= self.check_seconds:
                    self._checked = now
                    self._refresh()
        assert self._context is not None  # _refresh raises rather than leave none
        return self._context

    def expiry(self) -> float | None:
        """When the certificate new connections get expires (Unix time); None if none loads."""
        try:
            self.context()
        except (OSError, ssl.SSLError):
            return None
        return self._expiry

    def _digest_files(self) -> bytes:
        digest = hashlib.sha256()
        for path in (self.certfile, self.keyfile):
            digest.update(path.read_bytes())
            digest.update(b"\0")
        return digest.digest()

    def _refresh(self) -> None:
        try:
            digest = self._digest_files()
        except OSError as exc:
            self._refuse(b"", exc)
            return
        if digest in (self._digest, self._refused):
            return
        try:
            context = build_context(self.certfile, self.keyfile)
            if self._digest_files() != digest:
                digest = b""  # changed while loading: a consistent pair, but look again soon
        except (OSError, ssl.SSLError) as exc:
            self._refuse(digest, exc)
            return
        if self._context is not None:
            log.info("serving the new certificate from %s", self.certfile)
        self._context, self._digest, self._refused = context, digest, b""
        self._expiry = certificate_expiry(self.certfile)

    def _refuse(self, digest: bytes, exc: Exception) -> None:
        """Keep the previous context; say so once per distinct problem, not every second."""
        if self._context is None:
            raise exc  # nothing to serve yet: the start fails with the reason
        if (digest, str(exc)) == self._problem:
            return
        self._problem, self._refused = (digest, str(exc)), digest
        log.warning(
            "certificate files changed but do not load; serving the previous "
            "certificate until they do: %s",
            exc,
        )


def build_context(certfile: str | Path, keyfile: str | Path) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or later) for a certificate chain and its key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(certfile), keyfile=str(keyfile))
    context.set_alpn_protocols(["http/1.1"])
    return context


def certificate_expiry(certfile: str | Path) -> float | None:
    """The notAfter of the first (the serving) certificate in a PEM file, as Unix time."""
    try:
        leaf = x509.load_pem_x509_certificate(Path(certfile).read_bytes())
    except (OSError, ValueError):
        return None
    return leaf.not_valid_after_utc.timestamp()
