"""The server's logs: one JSON object per line on stderr, for the master, the workers and
gunicorn, and no access line built unless it is kept (audit lines are
admission/server/audit.py's)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Final

import orjson
from gunicorn import glogging

LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
STANDARD_RECORD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, pid, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        line.update({k: v for k, v in vars(record).items() if k not in STANDARD_RECORD})
        return orjson.dumps(line, default=str).decode()


def logging_dict(level: str) -> dict[str, Any]:
    """dictConfig for gunicorn and our loggers: JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"console": handler, "error_console": handler},
        "root": {"level": level.upper(), "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            # one line per request only when debugging: the audit log says what matters
            "gunicorn.access": {
                "level": "DEBUG" if level.lower() == "debug" else "WARNING",
                "handlers": [],
                "propagate": True,
            },
        },
    }


class QuietAccessLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, without formatting an access line nobody will see.

    With a logging config gunicorn builds every request's access line before the logger drops
    it; below debug level that is a few percent of a worker's time for nothing.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Log the access line only when the access logger would keep it."""
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)
