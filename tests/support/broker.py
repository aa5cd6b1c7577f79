"""Starts and stops the broker under test, one per test, on an ephemeral loopback port.

The broker is Moat (build/moat, or $MOAT_BINARY) unless MOAT_TEST_BROKER=mosquitto, in which
case Debian's /usr/sbin/mosquitto runs with an equivalent configuration. That lets the suite be
checked against a known broker for every behaviour both share; tests whose expected bytes only
Moat produces carry the `moat_only` mark.

Every Moat config has the plain listener "local" first (`port`); a test may add more, e.g. a TLS
listener, as dicts rendered into further [[listener]] tables (see render_listener); their ports
are in `ports` by name, and `listening_lines` holds what the broker said about each.

A BrokerProcess owns its child process: it reads the broker's stderr on a thread (so the pipe
never fills), keeps every line for the failure report, and stop() always reaps the child.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
MOAT_BINARY = Path(os.environ.get("MOAT_BINARY", REPO_ROOT / "build" / "moat"))
MOSQUITTO_BINARY = Path(os.environ.get("MOSQUITTO_BINARY", "/usr/sbin/mosquitto"))
BROKER_KIND = os.environ.get("MOAT_TEST_BROKER", "moat").strip().lower()

HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

# Moat's [limits] defaults, as written into every test's config unless a test overrides one.
DEFAULT_LIMITS: Dict[str, int] = {
    "connect_timeout": 10,
    "max_packet_size": 1_048_576,
    "max_keepalive": 65535,
    "receive_maximum": 65535,
    "max_inflight": 20,
    "max_queued_messages": 1000,
    "max_queued_bytes": 10_485_760,
    "topic_alias_maximum": 10,
}

# Moat limits that mosquitto can express, and the option that does it. A test that needs a limit
# missing here (connect_timeout, receive_maximum, max_session_expiry) is Moat-only.
_MOSQUITTO_GLOBAL_OPTIONS = {
    "max_packet_size": "max_packet_size",
    "max_keepalive": "max_keepalive",
    "max_inflight": "max_inflight_messages",
    "max_queued_messages": "max_queued_messages",
    "max_queued_bytes": "max_queued_bytes",
}
_MOSQUITTO_LISTENER_OPTIONS = {"topic_alias_maximum": "max_topic_alias"}

_MOSQUITTO_LISTENING = re.compile(r"Opening ipv4 listen socket on port (?P<port>\d+)")


def is_mosquitto() -> bool:
    return BROKER_KIND == "mosquitto"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


# A listener to add to a Moat config: a mapping of [[listener]] keys, e.g.
#   {"name": "secure", "transport": "tls", "tls": {"cert": path, "key": path}}
# "bind" defaults to an ephemeral loopback port and "allow_anonymous" to true; a "tls" mapping
# becomes the listener's [listener.tls] table. Values are written as TOML (Paths as strings,
# lists as arrays, e.g. "crl": [path]); in "tls", a list of mappings becomes an array of
# tables, e.g. "sni": [{"names": [...], "cert": path, "key": path}] gives
# [[listener.tls.sni]] tables.
ListenerSpec = Mapping[str, Any]


def _is_table_list(value) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and \
        all(isinstance(item, Mapping) for item in value)


def render_listener(spec: ListenerSpec) -> List[str]:
    """The [[listener]] table (and [listener.tls], [listener.websocket] when given) for one
    ListenerSpec."""
    table = {k: v for k, v in spec.items() if k not in ("tls", "websocket")}
    table.setdefault("bind", f"{HOST}:0")
    if "auth" not in table:  # the `auth` chain and allow_anonymous do not go together
        table.setdefault("allow_anonymous", True)
    lines = ["[[listener]]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    if spec.get("tls") is not None:
        lines.append("[listener.tls]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in spec["tls"].items()
                  if not _is_table_list(value)]
        for key, value in spec["tls"].items():
            if _is_table_list(value):
                for item in value:
                    lines.append(f"[[listener.tls.{key}]]")
                    lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
    if spec.get("websocket") is not None:
        lines.append("[listener.websocket]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in spec["websocket"].items()]
    lines.append("")
    return lines


def render_moat_config(data_dir: Path, limits: Dict[str, int], workers: int = 2,
                       log_level: str = "info",
                       listeners: Sequence[ListenerSpec] = (), extra_toml: str = "") -> str:
    """The config every test broker runs with: [broker], [limits], the plain listener "local",
    then `listeners` in order, then `extra_toml` (other tables, e.g. [auth.password])."""
    lines = ["[broker]",
             f"data_dir = {_toml_value(str(data_dir))}",
             f"workers = {workers}",
             f"log_level = {_toml_value(log_level)}",
             "",
             "[limits]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in limits.items()]
    lines += [""]
    lines += render_listener({"name": "local", "transport": "tcp"})
    for spec in listeners:
        lines += render_listener(spec)
    if extra_toml:
        lines += [extra_toml]
    return "\n".join(lines)


def render_mosquitto_config(port: int, limits: Dict[str, int]) -> str:
    lines = ["log_dest stderr", "log_type all", "persistence false"]
    lines += [f"{_MOSQUITTO_GLOBAL_OPTIONS[key]} {value}"
              for key, value in limits.items() if key in _MOSQUITTO_GLOBAL_OPTIONS]
    lines += [f"listener {port} {HOST}", "allow_anonymous true", "set_tcp_nodelay true"]
    lines += [f"{_MOSQUITTO_LISTENER_OPTIONS[key]} {value}"
              for key, value in limits.items() if key in _MOSQUITTO_LISTENER_OPTIONS]
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    """A port that was free a moment ago. Only for mosquitto, which cannot bind port 0 and
    report it; Moat binds port 0 itself."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class BrokerStartError(RuntimeError):
    pass


class BrokerProcess:
    """One running broker. `host`/`port` are its listener; `log()` is all it wrote so far."""

    def __init__(self, argv: List[str], workdir: Path, limits: Dict[str, int], kind: str):
        self.kind = kind
        self.limits = limits
        self.workdir = workdir
        self.host = HOST
        self.port: Optional[int] = None  # the listener "local"
        self.ports: Dict[str, int] = {}  # every listener by name
        self.listening_lines: Dict[str, str] = {}
        self.returncode: Optional[int] = None
        self._lines: List[str] = []
        self._cond = threading.Condition()
        self._proc = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read_log, daemon=True,
                                        name=f"{kind}-log")
        self._reader.start()

    def _read_log(self) -> None:
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def running(self) -> bool:
        return self._proc.poll() is None

    def memory(self, field: str = "VmRSS") -> int:
        """The broker process's resident memory in bytes (VmRSS in /proc/PID/status; VmHWM: its
        peak)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} for {self!r}")

    def log(self) -> str:
        with self._cond:
            return "\n".join(self._lines)

    def wait_for_log(self, pattern: str, timeout: float) -> Optional[re.Match]:
        """Waits until a log line matches `pattern` (a regex); returns the match, or None when
        the deadline passes or the broker exits first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self._lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._proc.poll() is not None
                                      and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(remaining, 0.2))

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait up to `timeout`; SIGKILL if it is still there. Returns the exit
        code (negative for a signal, as subprocess reports it)."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with self._cond:
                    self._lines.append(f"[test harness] no exit {timeout}s after SIGTERM; "
                                       "sending SIGKILL")
                self._proc.kill()
                self._proc.wait(STOP_TIMEOUT)
        self._reader.join(STOP_TIMEOUT)
        self._proc.stdout.close()
        self.returncode = self._proc.returncode
        return self.returncode

    def __repr__(self) -> str:
        return f"<{self.kind} pid={self.pid} {self.host}:{self.port}>"


def _merged_limits(limits: Optional[Dict[str, Optional[int]]]) -> Dict[str, int]:
    merged = dict(DEFAULT_LIMITS)
    merged.update(limits or {})
    return {k: v for k, v in merged.items() if v is not None}


def start_broker(workdir: Path, limits: Optional[Dict[str, int]] = None,
                 log_level: str = "info", listeners: Sequence[ListenerSpec] = (),
                 workers: int = 2, extra_toml: str = "") -> BrokerProcess:
    """Writes a config into `workdir` and starts the broker; returns once every listener
    listens. `limits` override DEFAULT_LIMITS key by key; a key set to None is left out of the
    file. `listeners` are added after "local" (Moat only)."""
    merged = _merged_limits(limits)
    workdir.mkdir(parents=True, exist_ok=True)
    if is_mosquitto():
        if listeners:
            raise BrokerStartError("extra listeners are only written for Moat; mark the test "
                                   "moat_only")
        return _start_mosquitto(workdir, merged)
    return _start_moat(workdir, merged, log_level, listeners, workers, extra_toml)


def write_moat_config(workdir: Path, limits: Optional[Dict[str, int]] = None,
                      log_level: str = "info", listeners: Sequence[ListenerSpec] = (),
                      workers: int = 2, extra_toml: str = "") -> Path:
    """Writes `workdir`/moat.toml as start_broker would and returns its path, for tests that
    run `moat serve` or `moat check-config` on it themselves."""
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "var"
    data_dir.mkdir(exist_ok=True)
    config = workdir / "moat.toml"
    config.write_text(render_moat_config(data_dir, _merged_limits(limits), workers=workers,
                                         log_level=log_level, listeners=listeners,
                                         extra_toml=extra_toml))
    return config


def serve_until_exit(config: Path, timeout: float = 10.0) -> subprocess.CompletedProcess:
    """`moat serve` on a config that must not start: it has to exit by itself (a broker that
    starts anyway is killed when the timeout passes, and the test fails)."""
    try:
        return subprocess.run([str(MOAT_BINARY), "serve", "--config", str(config)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout or b""  # bytes here even with text=True
        raise AssertionError(f"moat serve still running after {timeout}s:\n"
                             f"{out.decode(errors='replace') if isinstance(out, bytes) else out}"
                             ) from None


def check_config(config: Path) -> subprocess.CompletedProcess:
    """`moat check-config` on `config`."""
    return subprocess.run([str(MOAT_BINARY), "check-config", str(config)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)


def _listening_pattern(name: str) -> str:
    return (rf'listener "{re.escape(name)}" listening on '
            r'(?P<host>[0-9.]+):(?P<port>\d+)')


def _start_moat(workdir: Path, limits: Dict[str, int], log_level: str,
                listeners: Sequence[ListenerSpec], workers: int,
                extra_toml: str = "") -> BrokerProcess:
    if not MOAT_BINARY.exists():
        raise BrokerStartError(f"{MOAT_BINARY} does not exist: build Moat first, or run with "
                               "MOAT_TEST_BROKER=mosquitto")
    config = write_moat_config(workdir, limits, log_level, listeners, workers, extra_toml)
    broker = BrokerProcess([str(MOAT_BINARY), "serve", "--config", str(config)], workdir,
                           limits, "moat")
    for name in ["local"] + [spec["name"] for spec in listeners]:
        match = broker.wait_for_log(_listening_pattern(name), START_TIMEOUT)
        if match is None:
            code = broker.stop()
            raise BrokerStartError(f"moat did not report listener \"{name}\" within "
                                   f"{START_TIMEOUT}s (exit code {code}); log:\n{broker.log()}")
        broker.ports[name] = int(match.group("port"))
        broker.listening_lines[name] = match.string
    broker.port = broker.ports["local"]
    return broker


def _start_mosquitto(workdir: Path, limits: Dict[str, int]) -> BrokerProcess:
    last_log = ""
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = _free_port()
        config = workdir / "mosquitto.conf"
        config.write_text(render_mosquitto_config(port, limits))
        broker = BrokerProcess([str(MOSQUITTO_BINARY), "-c", str(config)], workdir, limits,
                               "mosquitto")
        if broker.wait_for_log(_MOSQUITTO_LISTENING.pattern, START_TIMEOUT) and \
                broker.wait_for_log(r"mosquitto version .* running", START_TIMEOUT):
            broker.port = port
            return broker
        broker.stop()
        last_log = broker.log()
    raise BrokerStartError(f"mosquitto did not start; log:\n{last_log}")
