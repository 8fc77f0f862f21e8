"""The processes a scenario runs: servers on free ports, one-shot commands, their RSS."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).with_name("exim-ledger"))
STARTUP_SECONDS = 90.0  # a loaded 2-core machine starts a worker slowly
STOP_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def rss_mb(self) -> float:
        """Resident memory of the server and its child processes, in MB."""
        return sum(_rss_kb(pid) for pid in _family(self.process.pid)) / 1024

    def rss_projector_mb(self) -> float:
        """The part of ``rss_mb`` that the projector child holds."""
        return sum(_rss_kb(pid) for pid in _family(self.process.pid)
                   if b"project" in _cmdline(pid)) / 1024


@contextlib.contextmanager
def serving(argv: Sequence[str], env: Mapping[str, str], directory: Path, name: str,
            health: str = "/healthz") -> Iterator[Server]:
    """Run ``argv`` (which takes ``{port}``) in its own process group until the block ends;
    yields once ``health`` answers 200. Its output goes to ``{name}.log`` in ``directory``."""
    port = free_port()
    log_path = directory / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [a.format(port=port) for a in argv], env=dict(env), cwd=directory, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(process, url + health, log_path)
            yield Server(url, process)
        finally:
            stop(process)


@contextlib.contextmanager
def background(argv: Sequence[str], env: Mapping[str, str], directory: Path,
               name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running command (``exim-ledger project``) for the length of the block."""
    with (directory / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(list(argv), env=dict(env), cwd=directory, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            stop(process)


def run(argv: Sequence[str], env: Mapping[str, str], directory: Path,
        timeout: float = 3600) -> str:
    """Run a command to completion; its stdout, or an error naming its output."""
    done = subprocess.run(list(argv), env=dict(env), cwd=directory, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        try:  # the pause between polls, which also notices a server that exited
            process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"{process.args!r} exited {process.returncode}:\n"
                           f"{log_path.read_text(errors='replace')}")
    raise RuntimeError(f"{process.args!r} did not answer within {STARTUP_SECONDS:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
            return


def _family(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        p = pending.pop()
        found.append(p)
        pending += children.get(p, [])
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
