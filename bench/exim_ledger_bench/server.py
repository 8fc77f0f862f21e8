"""Real processes on free local ports, for the bench, the soak and the tests that need a
socket: ``exim-ledger serve`` (or another command, or the bench's no-op app) in its own
process group, killed and restarted at will, one-shot commands, and what a process tree
holds in memory and has spent in CPU (from /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx

CLI = Path(sys.executable).with_name("exim-ledger")
STARTUP_SECONDS = 90.0  # a loaded 2-core machine starts a worker slowly
STOP_SECONDS = 15.0
PORT = "{port}"  # where a serving command's argv takes its port


def free_port() -> int:
    """A local TCP port that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """``argv`` as a subprocess in its own process group, its output appended to
    ``directory/log_name``. An ``argv`` that names ``{port}`` serves: it gets a free port,
    kept across restarts so that clients can go on using one URL, and is started once
    ``health`` answers 200."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], directory: Path,
                 log_name: str = "server.log", health: str = "/healthz") -> None:
        self.env, self.directory = dict(env), directory
        self.serving = any(PORT in a for a in argv)
        self.port = free_port() if self.serving else 0
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [a.replace(PORT, str(self.port)) for a in argv]
        self.health = health
        self.log_path = directory / log_name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, wait: bool = True) -> None:
        """Start the command; a server is started once its health check answers (unless not
        ``wait``: a test may kill it while it starts)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.directory, stdout=log,
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

    def __enter__(self) -> Process:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + self.health, timeout=2.0).status_code == 200:
                    return
            try:  # the pause between polls, which also notices a server that exited
                self.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"{' '.join(self.argv)} exited with "
                               f"{self.process.returncode}:\n{self.log()}")
        raise RuntimeError(f"{' '.join(self.argv)} did not answer within "
                           f"{STARTUP_SECONDS:.0f} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        """Resident memory of the process and its descendants, in MB."""
        return sum(rss_kb(pid) for pid in family(self.pid)) / 1024

    def projectors(self) -> list[int]:
        """The descendants that run projections (``serve``'s projector child)."""
        return [pid for pid in family(self.pid) if b"project" in cmdline(pid)]

    def rss_projector_mb(self) -> float:
        """The part of ``rss_mb`` that the projector child holds."""
        return sum(rss_kb(pid) for pid in self.projectors()) / 1024


class LedgerProcess(Process):
    """``exim-ledger serve`` (or ``exim-ledger <args>``, e.g. ``project``) from the venv."""

    def __init__(self, env: Mapping[str, str], directory: Path, *args: str,
                 log_name: str = "server.log") -> None:
        args = args or ("serve",)
        serving = ("--host", "127.0.0.1", "--port", PORT) if args[0] == "serve" else ()
        super().__init__([str(CLI), *args, *serving], env, directory, log_name)


@contextlib.contextmanager
def serve(env: Mapping[str, str], directory: Path, *options: str) -> Iterator[str]:
    """Run ``exim-ledger serve [options]`` from the venv in ``directory`` (its output goes to
    ``server.log`` there), yield its base URL once ``/healthz`` answers, and stop its whole
    process group (workers included) on exit."""
    with LedgerProcess(env, directory, "serve", *options) as server:
        yield server.url


def run(argv: Sequence[str], env: Mapping[str, str], directory: Path,
        timeout: float = 3600) -> str:
    """Run a command to completion; its stdout, or an error naming its output."""
    done = subprocess.run(list(argv), env=dict(env), cwd=directory, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers, the projector child), from /proc."""
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


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU ``pid`` has spent so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
