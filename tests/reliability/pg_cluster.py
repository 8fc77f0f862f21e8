"""A private PostgreSQL cluster a test may stop and start at will: made by ``initdb`` in a
temporary directory and listening on a free local port, so the shared server is never
touched. initdb and pg_ctl refuse to run as root, so as root they run as ``postgres``."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from exim_ledger_bench.server import free_port

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"))
COMMAND_SECONDS = 120.0  # generous: a loaded machine starts a cluster slowly


def _binary(name: str) -> str:
    for directory in BIN_DIRS:
        if (directory / name).exists():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} (a PostgreSQL server binary) is not installed")
    return found


def available() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    try:
        _binary("initdb")
        _binary("pg_ctl")
    except FileNotFoundError as e:
        return str(e)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to drop to the postgres user"
    return None


class Cluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "server.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [*args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_SECONDS,
                              cwd=self.directory)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}\n{self.server_log()}")

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def init(self) -> None:
        self._run(_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.directory}'\n"
                       "max_connections = 200\nshared_buffers = 32MB\n")

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(int(COMMAND_SECONDS)), "start")
        deadline = time.monotonic() + COMMAND_SECONDS
        while not self.accepts():
            assert time.monotonic() < deadline, f"the cluster did not come up:\n{self.server_log()}"
            time.sleep(0.02)

    def stop(self, mode: str = "immediate") -> None:
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                  "-t", str(int(COMMAND_SECONDS)), "stop")

    def accepts(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A fresh running cluster; stopped and deleted afterwards."""
    # in /tmp itself: the postgres user must reach it, and pytest's own temporary
    # directories are private to the user running the tests
    directory = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = Cluster(directory)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):  # already stopped, or never started
            cluster.stop("fast")
        shutil.rmtree(directory, ignore_errors=True)
