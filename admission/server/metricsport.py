"""/metrics over plain HTTP on a port of its own, for scrapers that do not speak TLS.

gunicorn serves every listener of a server with the same TLS settings, so the plain port is a
small HTTP server in gunicorn's master process: GET /metrics asks the HTTPS port on the loopback
address for /metrics and answers with what it got, the same series every worker adds up
(build, policy and certificate gauges included). The loopback hop is not verified: it never
leaves the pod, and the serving certificate need not name 127.0.0.1. Anything but GET /metrics
is 404.
"""

from __future__ import annotations

import http.server
import logging
import ssl
import threading
import urllib.request
from typing import Final

log = logging.getLogger("argo_admission.metrics_port")

FETCH_SECONDS: Final = 10.0


def start(host: str, port: int, *, https_port: int) -> http.server.ThreadingHTTPServer:
    """Serve GET /metrics on host:port from https://127.0.0.1:<https_port>/metrics."""
    source = f"https://127.0.0.1:{https_port}/metrics"
    loopback = ssl.create_default_context()
    loopback.check_hostname = False
    loopback.verify_mode = ssl.CERT_NONE

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            try:
                with urllib.request.urlopen(source, timeout=FETCH_SECONDS, context=loopback) as r:
                    body, kind = r.read(), r.headers.get("Content-Type", "text/plain")
            except OSError as exc:
                log.warning("plain /metrics: the HTTPS port did not answer: %s", exc)
                self.send_error(503)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
            return

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-port", daemon=True).start()
    log.info("plain-HTTP /metrics on %s:%d", host, port)
    return server
