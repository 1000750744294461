"""The types of the command line's values: a bad value is refused by argparse, in one line
naming the flag and the value, before anything runs."""

from __future__ import annotations

import argparse
import re
from typing import Final

from admission.server import certs

MAX_PORT: Final = 65535
DURATION_UNITS: Final = {"h": 3600.0, "m": 60.0, "s": 1.0}
DURATION: Final = re.compile(r"(?:(\d+(?:\.\d+)?)([hms]))")


def whole_number(text: str, *, least: int, refusal: str) -> int:
    """A whole number of at least `least`; below it, `refusal` follows the value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{value} {refusal}")
    return value


def positive_int(text: str) -> int:
    """A whole number above zero."""
    return whole_number(text, least=1, refusal="is not above zero")


def count(text: str) -> int:
    """A whole number, zero or more."""
    return whole_number(text, least=0, refusal="is below zero")


def positive_float(text: str) -> float:
    """A number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text} is not above zero")
    return value


def tcp_port(text: str) -> int:
    """A TCP port, 1-65535."""
    value = positive_int(text)
    if value > MAX_PORT:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-{MAX_PORT})")
    return value


def san_host(text: str) -> str:
    """A DNS name or IP address a certificate can name (and a server can listen on)."""
    problem = certs.host_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def dns_label(text: str) -> str:
    """A Service or namespace name."""
    problem = certs.dns_label_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def duration(text: str) -> float:
    """A duration above zero as Go and Kubernetes write it (90s, 5m, 1h30m), or seconds (300)."""
    try:
        seconds = float(text)
    except ValueError:
        parts = DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a duration (write it as 90s, 5m, 1h30m or seconds)"
            ) from None
        seconds = sum(float(n) * DURATION_UNITS[u] for n, u in parts)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text} is not above zero")
    return seconds
