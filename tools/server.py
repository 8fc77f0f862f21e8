"""A real ``exim-ledger serve`` process on a free local port, for the benchmarks and the
tests that need a socket; ``LedgerProcess`` also runs ``exim-ledger project`` and kills and
restarts either, for the crash tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

CLI = Path(sys.executable).with_name("exim-ledger")
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0


def free_port() -> int:
    """A local TCP port that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LedgerProcess:
    """``exim-ledger serve`` (or another command) as a subprocess in its own process group,
    its output appended to ``directory/log_name``. A serving process keeps its port across
    restarts, so clients can go on using one URL."""

    def __init__(self, env: Mapping[str, str], directory: Path, *args: str,
                 log_name: str = "server.log") -> None:
        self.env, self.directory = dict(env), directory
        self.serving = not args or args[0] == "serve"
        self.port = free_port() if self.serving else 0
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [*(args or ("serve",))]
        if self.serving:
            self.args += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.log_path = directory / log_name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, wait: bool = True) -> None:
        """Start the command; a server is started once its ``/healthz`` answers (unless not
        ``wait``: a test may kill it while it starts)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CLI), *self.args], env=self.env, cwd=self.directory, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        if self.serving and wait:
            self._wait_until_healthy()

    def kill(self) -> None:
        """SIGKILL the whole process group, as a power cut would, and reap it."""
        self._signal_group(signal.SIGKILL, STOP_SECONDS)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL whatever outlives ``STOP_SECONDS``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self._signal_group(sig, STOP_SECONDS):
                return

    def _signal_group(self, sig: signal.Signals, wait: float) -> bool:
        if self.process is None or self.process.returncode is not None:
            return True  # reaped: its process group id may belong to another group by now
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:  # the pause between polls, which also notices a server that exited
                self.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"exim-ledger {self.args[0]} exited with "
                               f"{self.process.returncode}:\n{self.log()}")
        raise RuntimeError(f"exim-ledger serve did not answer within {STARTUP_SECONDS:.0f} s:"
                           f"\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serve(env: Mapping[str, str], directory: Path, *options: str) -> Iterator[str]:
    """Run ``exim-ledger serve [options]`` from the venv in ``directory`` (its output goes to
    ``server.log`` there), yield its base URL once ``/healthz`` answers, and stop its whole
    process group (workers included) on exit."""
    server = LedgerProcess(env, directory, "serve", *options)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
