"""Child processes for the suites and benchmarks: found, started, waited on and stopped — only
our own.

Each process runs in a process group it leads (so stopping it never touches anything we did not
start), writes its output to a log file, and is stopped at interpreter exit (atexit) or killed
with the test run if that dies first (PDEATHSIG).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_BIN = Path.home() / ".cache" / "argo-admission" / "bin"
SETUP = "tests/e2e/setup.sh"
STOP_GRACE = 15.0
_PR_SET_PDEATHSIG = 1
_RUNNING: set[Process] = set()


class MissingBinaryError(RuntimeError):
    """A binary the e2e suite needs has not been built; tests/e2e/setup.sh builds it."""


class ProcessError(RuntimeError):
    """A child process exited or never became ready."""


class WaitTimeout(AssertionError):
    """Something waited for did not happen in time; the message says what and what was seen."""


def bin_dirs() -> list[Path]:
    """Where binaries are looked for: $ARGO_ADMISSION_BIN first, then the default cache."""
    override = os.environ.get("ARGO_ADMISSION_BIN")
    return [Path(override), DEFAULT_BIN] if override else [DEFAULT_BIN]


def setup_command(name: str) -> str:
    """The tests/e2e/setup.sh command that builds binary `name`."""
    for target in ("workflow-controller", "argo"):
        prefix = f"{target}-"
        if name.startswith(prefix):
            return f"ARGO_VERSION={name.removeprefix(prefix)} {SETUP} {target}"
    return f"{SETUP} {name}"


def find_binary(name: str) -> Path:
    """The path of an executable the suite needs, or a loud MissingBinaryError naming setup.sh."""
    dirs = bin_dirs()
    for directory in dirs:
        path = directory / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    searched = ", ".join(str(d) for d in dict.fromkeys(dirs))
    raise MissingBinaryError(
        f"{name} is not built (looked in {searched}); run `{setup_command(name)}` "
        f"(or `{SETUP}` for everything) — the e2e suite does not skip without it"
    )


def built(name: str) -> Path | None:
    """A binary tests/e2e/setup.sh built (or one on PATH), or None: for what may be skipped."""
    for directory in bin_dirs():
        path = directory / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    return Path(found) if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """In the child, before exec: be killed when the test run dies, even by SIGKILL.

    SIGKILL, not SIGTERM: an orphaned kube-apiserver whose etcd got the same SIGTERM waits
    for etcd forever in its graceful shutdown; nobody is left to need a graceful one.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


class Process:
    """One child process, logging to a file, stopped with SIGTERM then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        stdout_path: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_path
        self.stdout_path = stdout_path  # None: stdout goes to the log with stderr
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        pid = self.popen.pid if self.popen else None
        return f"<Process {self.name} pid={pid} log={self.log_path}>"

    def start(self) -> Process:
        """Start the process in a new session (its own process group), output to the log."""
        with contextlib.ExitStack() as files:
            log = files.enter_context(open(self.log_path, "ab"))
            out = files.enter_context(open(self.stdout_path, "ab")) if self.stdout_path else log
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log if self.stdout_path else subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        _RUNNING.add(self)
        return self

    @property
    def pid(self) -> int:
        """The PID we started (also the process group id)."""
        if self.popen is None:
            raise ProcessError(f"{self.name} was never started")
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen is not None and self.popen.poll() is None

    def check_alive(self) -> None:
        """Raise ProcessError with the log tail if the process has exited."""
        if not self.alive():
            code = self.popen.returncode if self.popen else None
            raise ProcessError(f"{self.name} exited with {code}; {self.describe_log()}")

    def stop(self, *, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM our process group, wait up to `grace` seconds, then SIGKILL it; the exit code."""
        _RUNNING.discard(self)
        if self.popen is None:
            return None
        if self.popen.poll() is not None:
            return self.popen.returncode
        self._signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.popen.wait(timeout=grace)
        return self.popen.returncode

    def _signal(self, sig: signal.Signals) -> None:
        # The group is the one start_new_session made for this child: its id is our PID.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)

    def tail(self, lines: int = 25) -> str:
        """The last lines of the process's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def describe_log(self, lines: int = 25) -> str:
        """The log's path and its tail, for error messages."""
        return f"log {self.log_path}, last lines:\n{self.tail(lines)}"


@atexit.register
def stop_all() -> None:
    """Stop every process this module started and has not stopped yet."""
    for process in list(_RUNNING):
        process.stop()


def wait_for(
    observe: Callable[[], T],
    *,
    what: str,
    until: Callable[[T], Any] = bool,
    timeout: float = 30.0,
    interval: float = 0.2,
    check: Callable[[], None] | None = None,
) -> T:
    """Call `observe()` until `until(value)` holds and return that value.

    On timeout raise WaitTimeout naming `what` and the last value (or exception) observed.
    `check` runs between attempts and may raise to stop waiting early (e.g. a process died).
    """
    deadline = time.monotonic() + timeout
    last: object = "(nothing observed)"
    while True:
        try:
            value = observe()
        except Exception as error:  # the last error is the state to report
            last = f"{type(error).__name__}: {error}"
        else:
            if until(value):
                return value
            last = value
        if check is not None:
            check()
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"timed out after {timeout:g}s waiting for {what}; last observed: {shorten(last)}"
            )
        time.sleep(interval)


def stays(
    observe: Callable[[], T],
    *,
    what: str,
    holds: Callable[[T], Any],
    duration: float,
    interval: float = 0.2,
) -> T:
    """Call `observe()` for `duration` seconds; AssertionError naming `what` and the value seen
    as soon as `holds(value)` does not. For what must not happen: the duration is the bound."""
    deadline = time.monotonic() + duration
    while True:
        value = observe()
        assert holds(value), f"{what} stopped holding: {shorten(value)}"
        if time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def shorten(value: object, limit: int = 2000) -> str:
    """repr() of a value, cut to `limit` characters."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more)"


class Supervised:
    """Something the suite runs as one Process of its own: stop, liveness, log tail."""

    label = "process"
    process: Process | None = None
    stop_grace = STOP_GRACE  # seconds between SIGTERM and SIGKILL

    def stop(self) -> None:
        """Stop our process (only ours) if it runs."""
        if self.process is not None:
            self.process.stop(grace=self.stop_grace)
            self.process = None

    def alive(self) -> bool:
        """Whether our process runs."""
        return self.process is not None and self.process.alive()

    def check_alive(self) -> None:
        """Raise ProcessError with the log tail if our process is not running."""
        if self.process is None:
            raise ProcessError(f"{self.label} is not started")
        self.process.check_alive()

    def tail(self, lines: int = 40) -> str:
        """The last lines of our process's log."""
        return self.process.tail(lines) if self.process else "(not running)"
