"""mosquitto_pub and mosquitto_sub as outside clients, always with a timeout.

MosquittoSub runs in the background with debug output on (-d) so a test can wait for the
SUBACK before publishing, and prints each message on one line in a fixed format:
    MSG|<topic>|<qos>|<retain>|<payload in hex>
A reader thread collects lines so the pipe never fills; stop() always reaps the process.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from support import mqtt_bytes as mb

MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
DEFAULT_TIMEOUT = 10.0

_FORMAT = "MSG|%t|%q|%r|%x"


def version_flag(version: int) -> List[str]:
    return ["-V", {mb.V31: "mqttv31", mb.V311: "mqttv311", mb.V5: "mqttv5"}[version]]


def mosquitto_pub(host: str, port: int, topic: str, message: Optional[str] = None,
                  qos: int = 0, version: int = mb.V311, retain: bool = False,
                  extra: Sequence[str] = (), stdin: Optional[str] = None,
                  timeout: float = DEFAULT_TIMEOUT) -> None:
    """Publishes and returns once mosquitto_pub exited 0. `message` None with `stdin` set
    publishes each line of `stdin` as its own message (-l)."""
    argv = [MOSQUITTO_PUB, "-h", host, "-p", str(port), "-t", topic, "-q", str(qos)]
    argv += version_flag(version)
    if retain:
        argv.append("-r")
    if message is not None:
        argv += ["-m", message]
    elif stdin is not None:
        argv.append("-l")
    else:
        argv.append("-n")  # empty payload
    argv += list(extra)
    result = subprocess.run(argv, input=(stdin or "").encode(), capture_output=True,
                            timeout=timeout)
    assert result.returncode == 0, (f"mosquitto_pub exited {result.returncode}: "
                                    f"{result.stderr.decode(errors='replace')}")


@dataclass
class SubMessage:
    topic: str
    qos: int
    retain: bool
    payload: bytes


class MosquittoSub:
    def __init__(self, host: str, port: int, topics: Sequence[str], qos: int = 0,
                 version: int = mb.V311, client_id: Optional[str] = None,
                 clean: bool = True, session_expiry: Optional[int] = None,
                 count: Optional[int] = None, exit_after_subscribe: bool = False,
                 extra: Sequence[str] = ()):
        # stdbuf: mosquitto_sub's -d lines are plain printf; without line buffering they sit
        # in a full stdio buffer while stdout is a pipe, and wait_subscribed() never sees them.
        argv = ["stdbuf", "-oL", MOSQUITTO_SUB, "-h", host, "-p", str(port), "-q", str(qos),
                "-d", "-F", _FORMAT]
        argv += version_flag(version)
        for topic in topics:
            argv += ["-t", topic]
        if client_id:
            argv += ["-i", client_id]
        if not clean:
            argv.append("-c")
        if session_expiry is not None:
            argv += ["-x", str(session_expiry)]
        if count is not None:
            argv += ["-C", str(count)]
        if exit_after_subscribe:
            argv.append("-E")
        argv += list(extra)
        self.argv = argv
        self.lines: List[str] = []
        self._messages: "queue.Queue[SubMessage]" = queue.Queue()
        self._cond = threading.Condition()
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if line.startswith("MSG|"):
                _, rest = line.split("|", 1)
                # the topic may hold '|', so split the fixed fields from the right
                topic, qos, retain, payload_hex = rest.rsplit("|", 3)
                self._messages.put(SubMessage(topic, int(qos), retain == "1",
                                              bytes.fromhex(payload_hex)))
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_subscribed(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Waits for the debug line that says the SUBACK arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any("received SUBACK" in line for line in self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._reader.is_alive():
                    raise AssertionError(f"mosquitto_sub got no SUBACK within {timeout}s:\n"
                                         + "\n".join(self.lines))
                self._cond.wait(min(remaining, 0.2))

    def receive(self, count: int, timeout: float = DEFAULT_TIMEOUT) -> List[SubMessage]:
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < count:
            try:
                got.append(self._messages.get(timeout=max(deadline - time.monotonic(), 0)))
            except queue.Empty:
                raise AssertionError(f"mosquitto_sub: {len(got)} of {count} messages within "
                                     f"{timeout}s; output:\n{self.output()}") from None
        return got

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mosquitto_sub still running after {timeout}s:\n"
                                 + self.output()) from None
        self._reader.join(timeout)
        return code

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._reader.join(5)
        self._proc.stdout.close()

    def __enter__(self) -> "MosquittoSub":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def mosquitto_passwd_file(path: Path, users: Dict[str, str]) -> Path:
    """A password file with `users` (name -> password), written by Debian's mosquitto_passwd."""
    for i, (user, password) in enumerate(users.items()):
        args = ["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [str(path), user,
                                                                          password]
        subprocess.run(args, check=True, capture_output=True, timeout=30)
    return path
