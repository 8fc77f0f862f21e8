"""A real ``exim-ledger serve`` process on a free local port, for the benchmarks and the
tests that need a socket."""

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


@contextlib.contextmanager
def serve(env: Mapping[str, str], directory: Path, *options: str) -> Iterator[str]:
    """Run ``exim-ledger serve [options]`` from the venv in ``directory`` (its output goes to
    ``server.log`` there), yield its base URL once ``/healthz`` answers, and stop its whole
    process group (workers included) on exit."""
    port = free_port()
    log_path = directory / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port), *options],
            env=dict(env), cwd=directory, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_healthy(process, url, log_path)
            yield url
        finally:
            _stop(process)


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:  # the pause between polls, which also notices a server that exited
            process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"exim-ledger serve exited with {process.returncode}:\n"
                           f"{log_path.read_text(errors='replace')}")
    raise RuntimeError(f"exim-ledger serve did not answer within {STARTUP_SECONDS:.0f} s:\n"
                       f"{log_path.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
            return
