"""A trivial admission webhook served exactly like argo-admission: the anchor benchmarks
compare against. It parses the AdmissionReview and admits it (an empty patch on /mutate).

    python bench/trivial_server.py --port 9443 --cert-dir DIR [--workers 2 --threads 4]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
from flask import Flask, Response, request

from admission.server.options import ServeOptions
from admission.server.serving import (
    WebhookApplication,
    gunicorn_options,
    use_metrics_dir,
)


def create_app() -> Flask:
    """/validate and /mutate admit everything; /readyz answers ok."""
    app = Flask("trivial")

    def admit() -> Response:
        doc = orjson.loads(request.get_data())
        body = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {"uid": doc["request"]["uid"], "allowed": True},
        }
        return Response(orjson.dumps(body), mimetype="application/json")

    app.add_url_rule("/validate", "validate", admit, methods=["POST"])
    app.add_url_rule("/mutate", "mutate", admit, methods=["POST"])
    app.add_url_rule("/readyz", "readyz", lambda: "ok", methods=["GET"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    serving = ServeOptions(
        host=args.host,
        port=args.port,
        cert_dir=args.cert_dir,
        workers=args.workers,
        threads=args.threads,
        log_level="warning",
    )
    run_dir = Path(args.cert_dir).parent / f"trivial-run-{args.port}"
    run_dir.mkdir(parents=True, exist_ok=True)
    use_metrics_dir(run_dir)
    options: dict[str, Any] = gunicorn_options(
        serving, cert_dir=Path(args.cert_dir), run_dir=run_dir
    )
    options.pop("worker_exit", None)
    WebhookApplication(options, create_app).run()


if __name__ == "__main__":
    main()
