"""`moat pub` and `moat sub` as clients in tests, always with a timeout.

moat_pub() runs to completion and returns the CompletedProcess. MoatSub runs `moat sub -d` in
the background: threads collect stdout (raw bytes: -N and -F output need not be lines) and
stderr (the -d packet log), so a test can wait for the SUBACK before publishing and then wait
for output, each with a deadline. stop() always reaps the process.

The binary is $MOAT_CLI, else the broker's own (build/moat or $MOAT_BINARY).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import List, Optional, Sequence

from support.broker import MOAT_BINARY

MOAT_CLI = Path(os.environ.get("MOAT_CLI", MOAT_BINARY))
DEFAULT_TIMEOUT = 10.0


def moat_pub(host: str, port: int, *args: str, stdin: Optional[bytes] = None,
             timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess:
    argv = [str(MOAT_CLI), "pub", "-h", host, "-p", str(port), *args]
    return subprocess.run(argv, input=stdin if stdin is not None else b"",
                          capture_output=True, timeout=timeout)


def moat_run(*args: str, stdin: Optional[bytes] = None,
             timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess:
    """`moat <args>` as given (no host or port added), e.g. for argument errors."""
    return subprocess.run([str(MOAT_CLI), *args], input=stdin if stdin is not None else b"",
                          capture_output=True, timeout=timeout)


class MoatSub:
    """`moat sub -h host -p port -d args`; with host None, no -h/-p (e.g. for a -L URL)."""

    def __init__(self, host: Optional[str], port: Optional[int], args: Sequence[str]):
        address = ["-h", host, "-p", str(port)] if host is not None else []
        self.argv = [str(MOAT_CLI), "sub", *address, "-d", *args]
        self._out = bytearray()
        self._err: List[str] = []
        self._cond = threading.Condition()
        self._proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._threads = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_out(self) -> None:
        while True:
            chunk = self._proc.stdout.read1(65536)
            if not chunk:
                break
            with self._cond:
                self._out += chunk
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_err(self) -> None:
        for raw in self._proc.stderr:
            with self._cond:
                self._err.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stdout(self) -> bytes:
        with self._cond:
            return bytes(self._out)

    def stderr(self) -> str:
        with self._cond:
            return "\n".join(self._err)

    def _describe(self) -> str:
        return (f"argv: {self.argv}\nstdout: {self.stdout()!r}\nstderr:\n{self.stderr()}")

    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                finished = self._proc.poll() is not None and not any(
                    t.is_alive() for t in self._threads)
                if remaining <= 0 or finished:
                    raise AssertionError(f"moat sub: {what} not within {timeout}s\n"
                                         + self._describe())
                self._cond.wait(min(remaining, 0.2))

    def wait_subscribed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait(lambda: any("received SUBACK" in line for line in self._err), timeout,
                   "SUBACK")

    def wait_stderr(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._wait(lambda: any(text in line for line in self._err), timeout, repr(text))

    def lines(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> List[str]:
        """Waits until `count` complete lines were printed; returns the first `count`."""
        self._wait(lambda: self._out.count(b"\n") >= count, timeout, f"{count} lines")
        return self.stdout().decode().split("\n")[:count]

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"moat sub still running after {timeout}s\n"
                                 + self._describe()) from None
        for t in self._threads:
            t.join(timeout)
        return code

    def send_signal(self, sig: int) -> None:
        self._proc.send_signal(sig)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(5)
        for t in self._threads:
            t.join(5)
        self._proc.stdout.close()
        self._proc.stderr.close()

    def __enter__(self) -> "MoatSub":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
