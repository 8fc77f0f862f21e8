"""The projector child of ``exim-ledger serve``: one ``exim-ledger project`` process
beside the API's workers, so projecting never competes with requests for their
interpreter, restarted if it exits, stopped with the server."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading

logger = logging.getLogger("exim_ledger")
PARENT = "LEDGER_PROJECTOR_PARENT"  # set in the child: the pid whose exit stops it
READY_FD = "LEDGER_PROJECTOR_READY_FD"  # set in the child: written to once it projects
START_SECONDS = 60.0  # a loaded machine imports and connects slowly
RESTART_SECONDS = 1.0
STOP_SECONDS = 15.0


class Projector:
    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        """Start the child and wait (up to ``START_SECONDS``) until it projects; then
        watch it from a thread and start it again whenever it fails (a clean exit is a
        stop that something asked for, such as a SIGTERM to the server's group)."""
        self._spawn(wait=True)
        self._watch = threading.Thread(target=self._watch_child, name="projector-watch",
                                       daemon=True)
        self._watch.start()

    def _spawn(self, *, wait: bool) -> None:
        read, write = os.pipe()
        env = os.environ | {PARENT: str(os.getpid()), READY_FD: str(write)}
        try:
            with self._lock:
                if self._stopping.is_set():
                    return
                # the same process group: whatever stops the server's group stops it too
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "service.cli", "project"], env=env,
                    pass_fds=(write,))
        finally:
            os.close(write)
        with os.fdopen(read, "rb") as ready:
            if wait:  # one byte once it projects; EOF if it exited first
                _read_within(ready, START_SECONDS)

    def _watch_child(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            if code == 0:  # it was asked to stop (a SIGTERM to the whole process group)
                logger.warning("the projector stopped; this server no longer projects")
                return
            logger.warning("the projector exited (%s); starting it again", code)
            if self._stopping.wait(RESTART_SECONDS):
                return
            self._spawn(wait=False)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._watch is not None:
            self._watch.join(STOP_SECONDS)


def _read_within(pipe: object, seconds: float) -> None:
    """Wait for a byte (or EOF) on ``pipe`` for at most ``seconds``."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(pipe, selectors.EVENT_READ)  # type: ignore[arg-type]
        selector.select(seconds)


def watch_parent(stop: threading.Event) -> None:
    """In the child: set ``stop`` when the server that started it is gone (even killed
    outright), and ignore Ctrl-C, which reaches the whole group: the server stops the
    child itself once its workers are done."""
    parent = os.environ.get(PARENT)
    if not parent:
        return
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != int(parent):
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def say_ready() -> bool:
    """In the child: tell the server that it projects; whether a server started it."""
    fd = os.environ.pop(READY_FD, None)
    if fd is None:
        return False
    with contextlib.suppress(OSError):
        os.write(int(fd), b"1")
        os.close(int(fd))
    return True

