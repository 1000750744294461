"""The gunicorn worker: gthread, except that no thread waits on a connection with nothing to say.

gthread hands a new connection to a thread once its first bytes (the TLS ClientHello) arrive;
the thread then does the handshake and blocks until the HTTP request comes. Go's HTTP client,
which the API server uses, often completes a handshake and parks the connection idle: under
load it dials a new connection for a request, another one frees up first, and the new one goes
to its idle pool. Each such connection held one of our threads until the client used or closed
it; a burst could hold them all while requests queued behind them (seen with 8 Go clients and
2x4 threads: every request stalled). Here the thread does the handshake with a deadline and
gives the connection back to the poller if no request is already waiting.
"""

from __future__ import annotations

import selectors
import ssl
from typing import Any, Final

from gunicorn.workers.gthread import _DEFER, ThreadWorker

HANDSHAKE_SECONDS: Final = 5.0  # a ClientHello has arrived; the rest must follow promptly
FIRST_WAIT_SECONDS: Final = 5.0  # as gthread waits for a new connection's first bytes


class WebhookWorker(ThreadWorker):  # type: ignore[misc]
    """ThreadWorker that defers a TLS connection to the poller between handshake and request."""

    def handle(self, conn: Any) -> Any:
        """Handshake first (bounded); serve only when a request is there, else defer."""
        if self.cfg.is_ssl and not conn.initialized:
            if not conn.data_ready and not conn.wait_for_data(FIRST_WAIT_SECONDS):
                return _DEFER
            if not self._handshake(conn):
                return False
            conn.data_ready = False
            if not _readable(conn.sock):
                return _DEFER  # the poller hands it back when the request arrives
        return super().handle(conn)

    def _handshake(self, conn: Any) -> bool:
        try:
            conn.sock.settimeout(HANDSHAKE_SECONDS)
            conn.init()
            conn.sock.settimeout(None)
        except (ssl.SSLError, OSError) as exc:  # scanners, health checks, aborted clients
            self.log.debug("TLS handshake with %s failed: %s", conn.client, exc)
            return False  # gthread closes the connection
        return True


def _readable(sock: ssl.SSLSocket) -> bool:
    """Whether request bytes are already here (decrypted, or on the socket)."""
    if sock.pending():
        return True
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout=0))
