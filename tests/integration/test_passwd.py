"""`moat passwd`, checked against the tools it stands in for: Debian's mosquitto broker reads the
files it writes (mosquitto_pub -u/-P gets in with the right password and is refused with a wrong
one), it edits files mosquitto_passwd made without disturbing their other lines, and it behaves
like mosquitto_passwd for create, add, update, delete, -U and its errors. The file stays 0600,
no password or hash is ever printed, and on a terminal the password is asked twice, unechoed.
SCRAM-SHA-256 credentials (-H scram-sha-256) are checked against RFC 5802's definitions
recomputed with Python's hashlib, and Mosquitto must keep its other users when it meets one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pty
import re
import select
import socket
import stat
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Sequence, Tuple

import pytest

from support.broker import HOST, MOAT_BINARY, MOSQUITTO_BINARY, START_TIMEOUT, BrokerProcess
from support.mosquitto_clients import MOSQUITTO_PUB

pytestmark = pytest.mark.moat_only("Moat's own password file command")

MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
COMMAND_TIMEOUT = 30.0
PTY_TIMEOUT = 15.0

PBKDF2_LINE = re.compile(r"^\$7\$210000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$")
SCRAM_LINE = re.compile(
    r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]{22}==)\$([A-Za-z0-9+/]{43}=):([A-Za-z0-9+/]{43}=)$")
ARGON2_LINE = re.compile(r"^\$argon2id\$v=19\$m=47104,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$")


# -- running the tools ------------------------------------------------------------------------

def moat_passwd(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(MOAT_BINARY), "passwd", *args], input=stdin, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT)


def passwd_ok(*args: str, stdin: str = "") -> str:
    result = moat_passwd(*args, stdin=stdin)
    assert result.returncode == 0, (f"moat passwd {' '.join(args)} exited {result.returncode}: "
                                    f"{result.stderr}")
    return result.stdout


def passwd_error(*args: str, code: int, stdin: str = "") -> str:
    """Runs `moat passwd`, expecting exit `code` and a message on stderr; returns stderr."""
    result = moat_passwd(*args, stdin=stdin)
    assert result.returncode == code, (f"moat passwd {' '.join(args)}: expected exit {code}, got "
                                       f"{result.returncode}\n{result.stdout}{result.stderr}")
    assert result.stderr.strip(), "no message on stderr"
    return result.stderr


def mosquitto_passwd(*args: str) -> None:
    result = subprocess.run([MOSQUITTO_PASSWD, *args], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=COMMAND_TIMEOUT)
    assert result.returncode == 0, f"mosquitto_passwd {args[:-1]} exited {result.returncode}"


def entries(path: Path) -> Dict[str, str]:
    """user -> hash for every entry line of a password file."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            user, _, hash_ = line.partition(":")
            out[user.strip()] = hash_.strip()
    return out


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- Debian's mosquitto with a password file --------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def mosquitto_with(password_file: Path, workdir: Path,
                   skipped_lines: bool = False) -> Iterator[BrokerProcess]:
    """Debian's mosquitto on a free loopback port, anonymous clients refused, users from
    `password_file`; stopped on exit. Unless `skipped_lines`, every line must have been read."""
    broker = None
    for _attempt in range(3):  # another process may take the port between probe and bind
        port = _free_port()
        config = workdir / "mosquitto.conf"
        lines = ["log_dest stderr", "log_type all", "persistence false",
                 f"listener {port} {HOST}", "allow_anonymous false",
                 f"password_file {password_file}"]
        if os.geteuid() == 0:
            # As root mosquitto drops to the user "mosquitto", which cannot read a 0600 file of
            # root's; stay root here (it warns, and that is all).
            lines.insert(0, "user root")
        config.write_text("\n".join(lines) + "\n")
        broker = BrokerProcess([str(MOSQUITTO_BINARY), "-c", str(config)], workdir, {},
                               "mosquitto")
        if broker.wait_for_log(r"mosquitto version .* running", START_TIMEOUT):
            broker.port = port
            break
        broker.stop()
        broker = None
    assert broker is not None, "mosquitto did not start"
    try:
        # Mosquitto drops a line it cannot decode with an error and goes on without that user.
        assert "Unable to open pwfile" not in broker.log(), broker.log()
        assert skipped_lines or "removing entry" not in broker.log(), broker.log()
        yield broker
    finally:
        broker.stop()


def mosquitto_login(broker: BrokerProcess, user: str, password: str) -> Tuple[int, str]:
    """mosquitto_pub as `user` with `password`; its exit code and stderr."""
    result = subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(broker.port), "-u", user,
                             "-P", password, "-t", "passwd/test", "-m", "hello", "-q", "1"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=COMMAND_TIMEOUT)
    return result.returncode, result.stderr


def assert_login(broker: BrokerProcess, user: str, password: str) -> None:
    code, err = mosquitto_login(broker, user, password)
    assert code == 0, f"{user} refused: {err}\n{broker.log()}"


def assert_refused(broker: BrokerProcess, user: str, password: str) -> None:
    code, err = mosquitto_login(broker, user, password)
    assert code != 0 and "not authorised" in err, f"{user}: exit {code}, {err}"


# -- interoperation ---------------------------------------------------------------------------

def test_mosquitto_accepts_a_file_moat_passwd_wrote(tmp_path):
    path = tmp_path / "passwd"
    passwd_ok("-c", "-b", "-H", "pbkdf2", str(path), "sensor-1", "correct horse battery staple")
    passwd_ok("-b", "-H", "pbkdf2", str(path), "émile", "pässwörd ✓")
    passwd_ok("-b", "-H", "sha512-pbkdf2", str(path), "spaced", "a:b$c with space")
    assert all(PBKDF2_LINE.match(h) for h in entries(path).values()), path.read_text()
    with mosquitto_with(path, tmp_path) as broker:
        assert_login(broker, "sensor-1", "correct horse battery staple")
        assert_login(broker, "émile", "pässwörd ✓")
        assert_login(broker, "spaced", "a:b$c with space")
        assert_refused(broker, "sensor-1", "correct horse battery stapl")
        assert_refused(broker, "sensor-1", "")
        assert_refused(broker, "émile", "passwörd ✓")
        assert_refused(broker, "nobody", "correct horse battery staple")


def test_moat_passwd_edits_a_mosquitto_file_and_leaves_its_other_lines_alone(tmp_path):
    path = tmp_path / "passwd"
    mosquitto_passwd("-c", "-b", str(path), "alice", "alice's password")
    mosquitto_passwd("-b", str(path), "bob", "bob's password")
    mosquitto_passwd("-H", "sha512", "-b", str(path), "carol", "carol's password")
    path.write_text("# fleet 7\n" + path.read_text())
    before = path.read_text().splitlines()

    passwd_ok("-b", "-H", "pbkdf2", str(path), "dave", "dave's password")
    passwd_ok("-b", "-H", "pbkdf2", str(path), "bob", "bob's new password")
    passwd_ok("-D", str(path), "carol")

    after = path.read_text().splitlines()
    assert after[:2] == before[:2]  # the comment and alice, byte for byte
    assert after[2].startswith("bob:$7$210000$") and after[2] != before[2]
    assert [line.partition(":")[0] for line in after] == ["# fleet 7", "alice", "bob", "dave"]
    with mosquitto_with(path, tmp_path) as broker:
        assert_login(broker, "alice", "alice's password")
        assert_login(broker, "bob", "bob's new password")
        assert_refused(broker, "bob", "bob's password")
        assert_login(broker, "dave", "dave's password")
        assert_refused(broker, "carol", "carol's password")


def test_plain_text_file_converted_by_moat_passwd_works_in_mosquitto(tmp_path):
    path = tmp_path / "passwd"
    path.write_text("# plain\nalice:wonder land\n\nbob:b:o:b\n")
    out = passwd_ok("-U", "-H", "pbkdf2", str(path))
    assert "hashed 2 passwords" in out
    text = path.read_text()
    assert "wonder land" not in text and "b:o:b" not in text
    assert text.startswith("# plain\nalice:$7$") and "\n\nbob:$7$" in text
    assert mode_of(path) == 0o600
    with mosquitto_with(path, tmp_path) as broker:
        assert_login(broker, "alice", "wonder land")
        # Everything after the first ':' is the password (mosquitto_passwd -U stops at the next).
        assert_login(broker, "bob", "b:o:b")


def test_mosquitto_keeps_its_other_users_next_to_a_scram_line(tmp_path):
    path = tmp_path / "passwd"
    passwd_ok("-c", "-b", "-H", "scram-sha-256", str(path), "modern", "scram pw")
    passwd_ok("-b", "-H", "pbkdf2", str(path), "classic", "pbkdf2 pw")
    scram_hash = entries(path)["modern"]
    with mosquitto_with(path, tmp_path, skipped_lines=True) as broker:
        assert_login(broker, "classic", "pbkdf2 pw")
        # Mosquitto cannot check a SCRAM credential: that user is refused, whatever is tried.
        assert_refused(broker, "modern", "scram pw")
        assert_refused(broker, "modern", scram_hash)


# -- SCRAM-SHA-256 ----------------------------------------------------------------------------

def scram_keys(password: str, salt: bytes, iterations: int) -> Tuple[bytes, bytes]:
    """StoredKey and ServerKey by RFC 5802 section 3, independently of Moat."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return hashlib.sha256(client_key).digest(), server_key


def assert_scram_credential(encoded: str, password: str, iterations: int) -> None:
    match = SCRAM_LINE.match(encoded)
    assert match, encoded
    count, salt, stored, server = match.groups()
    assert int(count) == iterations
    assert len(base64.b64decode(salt)) == 16
    expected_stored, expected_server = scram_keys(password, base64.b64decode(salt), iterations)
    assert base64.b64decode(stored) == expected_stored
    assert base64.b64decode(server) == expected_server


def test_scram_sha256_credentials_are_those_of_rfc_5802_in_postgresql_form(tmp_path):
    path = tmp_path / "passwd"
    out = passwd_ok("-c", "-b", "-H", "scram-sha-256", str(path), "sensor-1", "pässwörd ✓")
    assert out.strip() == (f'added user "sensor-1" to {path}, hashed with SCRAM-SHA-256 '
                           "(4096 iterations)")
    assert mode_of(path) == 0o600
    assert_scram_credential(entries(path)["sensor-1"], "pässwörd ✓", 4096)

    # -I raises the count; the upper-case name of the mechanism is accepted too.
    out = passwd_ok("-b", "-H", "SCRAM-SHA-256", "-I", "20000", str(path), "gateway", "a:b$c d")
    assert "(20000 iterations)" in out
    assert_scram_credential(entries(path)["gateway"], "a:b$c d", 20000)

    # From standard input, as for the other hashes.
    passwd_ok("-H", "scram-sha-256", str(path), "piped", stdin="from stdin\n")
    assert_scram_credential(entries(path)["piped"], "from stdin", 4096)

    # A new password, a new salt.
    before = entries(path)["sensor-1"]
    passwd_ok("-b", "-H", "scram-sha-256", str(path), "sensor-1", "pässwörd ✓")
    assert entries(path)["sensor-1"] != before
    assert list(entries(path)) == ["sensor-1", "gateway", "piped"]


def test_convert_to_scram_keeps_scram_lines_and_can_run_twice(tmp_path):
    path = tmp_path / "passwd"
    passwd_ok("-c", "-b", "-H", "scram-sha-256", str(path), "kept", "kept pw")
    kept = path.read_text()
    path.write_text(kept + "plain:plain pw\n")
    out = passwd_ok("-U", "-H", "scram-sha-256", "-I", "5000", str(path))
    assert out.strip() == (f"hashed 1 password in {path} with SCRAM-SHA-256 (5000 iterations); "
                           "1 line held a hash already")
    text = path.read_text()
    assert text.startswith(kept) and "plain pw" not in text
    assert_scram_credential(entries(path)["plain"], "plain pw", 5000)
    out = passwd_ok("-U", "-H", "scram-sha-256", str(path))
    assert "hashed 0 passwords" in out and "2 lines held a hash already" in out
    assert path.read_text() == text


@pytest.mark.parametrize("args, message", [
    (["-I", "100", "-H", "scram-sha-256", "-b", "FILE", "a", "pw"],
     "-I for scram-sha-256 must be 4096..10000000"),
    (["-I", "10000001", "-H", "scram-sha-256", "-b", "FILE", "a", "pw"], "not in range"),
    (["-I", "0", "-H", "pbkdf2", "-b", "FILE", "a", "pw"], "not in range"),
    (["-I", "5000", "-b", "FILE", "a", "pw"], "argon2id has none"),
    (["-I", "5000", "-H", "scram-sha-256", "-D", "FILE", "a"], "-I cannot be combined with -D"),
    (["-H", "scram-sha-1", "-b", "FILE", "a", "pw"], "must be argon2id, pbkdf2 or scram-sha-256"),
])
def test_iteration_and_scram_usage_errors_exit_2(tmp_path, args, message):
    args = [str(tmp_path / "passwd") if a == "FILE" else a for a in args]
    err = passwd_error(*args, code=2)
    assert message in err
    assert not (tmp_path / "passwd").exists()


# -- like mosquitto_passwd --------------------------------------------------------------------

def test_create_add_update_and_delete(tmp_path):
    path = tmp_path / "passwd"
    out = passwd_ok("-c", "-b", str(path), "alice", "first")
    assert out.strip() == f'added user "alice" to {path}, hashed with argon2id'
    assert mode_of(path) == 0o600
    assert list(entries(path)) == ["alice"]
    assert ARGON2_LINE.match(entries(path)["alice"]), path.read_text()

    passwd_ok("-b", str(path), "bob", "second")
    passwd_ok("-b", "-H", "pbkdf2", str(path), "carol", "third")
    assert list(entries(path)) == ["alice", "bob", "carol"]
    assert ARGON2_LINE.match(entries(path)["bob"])
    assert PBKDF2_LINE.match(entries(path)["carol"])

    old = entries(path)["bob"]
    out = passwd_ok("-b", str(path), "bob", "second, changed")
    assert out.strip() == f'changed the password of "bob" in {path}, hashed with argon2id'
    assert list(entries(path)) == ["alice", "bob", "carol"]
    assert entries(path)["bob"] != old
    # The same password again still gives a new hash: a new salt.
    again = entries(path)["bob"]
    passwd_ok("-b", str(path), "bob", "second, changed")
    assert entries(path)["bob"] != again

    assert passwd_ok("-D", str(path), "alice").strip() == f'deleted user "alice" from {path}'
    assert list(entries(path)) == ["bob", "carol"]
    assert mode_of(path) == 0o600

    # -c starts over.
    passwd_ok("-c", "-b", str(path), "dave", "fourth")
    assert list(entries(path)) == ["dave"]


def test_an_existing_file_becomes_private_when_rewritten(tmp_path):
    path = tmp_path / "passwd"
    passwd_ok("-c", "-b", str(path), "alice", "first")
    path.chmod(0o644)
    passwd_ok("-b", str(path), "bob", "second")
    assert mode_of(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["passwd"]  # no temporary file left


def test_password_from_stdin_when_not_a_terminal(tmp_path):
    path = tmp_path / "passwd"
    passwd_ok("-c", "-H", "pbkdf2", str(path), "alice", stdin="from stdin\n")
    passwd_ok("-H", "pbkdf2", str(path), "bob", stdin="crlf line\r\nsecond line ignored\n")
    with mosquitto_with(path, tmp_path) as broker:
        assert_login(broker, "alice", "from stdin")
        assert_login(broker, "bob", "crlf line")


def test_convert_keeps_lines_that_hold_hashes_and_can_run_twice(tmp_path):
    path = tmp_path / "passwd"
    passwd_ok("-c", "-b", str(path), "alice", "hashed already")
    with path.open("a") as f:
        f.write("bob:plain\n")
    alice = entries(path)["alice"]
    out = passwd_ok("-U", str(path))
    assert "hashed 1 password in" in out and "1 line held a hash already" in out
    assert entries(path)["alice"] == alice
    assert ARGON2_LINE.match(entries(path)["bob"])
    text = path.read_text()
    out = passwd_ok("-U", str(path))
    assert "hashed 0 passwords" in out
    assert path.read_text() == text


def run_on_terminal(args: Sequence[str], answers: List[bytes]) -> Tuple[int, bytes]:
    """`moat passwd args` on a pseudo-terminal, typing each answer after each "password: "
    prompt; its exit code and everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: nothing here may return into pytest
        try:
            os.execv(str(MOAT_BINARY), [str(MOAT_BINARY), "passwd", *args])
        finally:
            os._exit(127)
    shown = b""
    typed = 0
    deadline = time.monotonic() + PTY_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                shown += data
            if typed < len(answers) and shown.lower().count(b"password: ") > typed:
                os.write(fd, answers[typed])
                typed += 1
        else:
            os.kill(pid, 9)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown


def test_on_a_terminal_the_password_is_asked_twice_and_not_echoed(tmp_path):
    path = tmp_path / "passwd"
    code, shown = run_on_terminal(["-c", "-H", "pbkdf2", str(path), "alice"],
                                  [b"typed secret\n", b"typed secret\n"])
    assert code == 0, shown
    assert b"Password: " in shown and b"Reenter password: " in shown
    assert b"typed secret" not in shown
    assert list(entries(path)) == ["alice"]

    code, shown = run_on_terminal([str(path), "bob"], [b"one\n", b"two\n"])
    assert code == 1
    assert b"the passwords do not match" in shown
    assert list(entries(path)) == ["alice"]

    with mosquitto_with(path, tmp_path) as broker:
        assert_login(broker, "alice", "typed secret")


# -- errors -----------------------------------------------------------------------------------

def test_a_missing_file_needs_c(tmp_path):
    path = tmp_path / "passwd"
    err = passwd_error("-b", str(path), "alice", "pw", code=1)
    assert err.strip() == f"moat passwd: {path}: no such file (-c creates it)"
    assert not path.exists()
    err = passwd_error("-D", str(path), "alice", code=1)
    assert "no such file" in err
    err = passwd_error("-U", str(path), code=1)
    assert "no such file" in err
    assert not path.exists()


@pytest.mark.parametrize("args, message", [
    ([], "expected the password file and a username"),
    (["FILE"], "expected the password file and a username"),
    (["FILE", "alice", "extra"], "expected the password file and a username"),
    (["-b", "FILE", "alice"], "-b takes the password file, a username and a password"),
    (["-c", "-D", "FILE", "alice"], "-D cannot be combined with -b or -c"),
    (["-D", "FILE"], "-D takes the password file and a username"),
    (["-U", "FILE", "alice"], "-U takes the password file only"),
    (["-U", "-c", "FILE"], "-U cannot be combined with -b, -c or -D"),
    (["-H", "sha512", "-b", "FILE", "alice", "pw"], "is read but not written"),
    (["-H", "md5", "-b", "FILE", "alice", "pw"], "must be argon2id, pbkdf2 or scram-sha-256"),
    (["--bogus", "FILE", "alice"], "--bogus"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    args = [str(tmp_path / "passwd") if a == "FILE" else a for a in args]
    err = passwd_error(*args, code=2)
    assert message in err
    assert not (tmp_path / "passwd").exists()


def test_errors_exit_1_and_leave_the_file_alone(tmp_path):
    path = tmp_path / "passwd"
    passwd_ok("-c", "-b", str(path), "alice", "alice's password")
    good = path.read_text()

    assert passwd_error("-D", str(path), "nobody", code=1).strip() == \
        f'moat passwd: {path}: no user "nobody"'
    assert "username contains '+' (an MQTT wildcard)" in \
        passwd_error("-b", str(path), "a+b", "pw", code=1)
    assert "username contains ':'" in passwd_error("-b", str(path), "a:b", "pw", code=1)
    assert "empty password" in passwd_error("-b", str(path), "bob", "", code=1)
    assert "empty password" in passwd_error(str(path), "bob", stdin="\n", code=1)
    assert "no password on standard input" in passwd_error(str(path), "bob", stdin="", code=1)
    assert "longer than 65535 bytes" in \
        passwd_error(str(path), "bob", stdin="x" * 65536 + "\n", code=1)
    assert path.read_text() == good

    # A broken line: the error names the file and line, and nothing of the hashes.
    hash_ = entries(path)["alice"]
    path.write_text(good + "bob:$7$0$AAECAwQFBgcICQoL$" + "A" * 86 + "==\n")
    broken = path.read_text()
    err = passwd_error("-b", str(path), "carol", "pw", code=1)
    assert err.strip() == (f'moat passwd: {path}:2: user "bob": $7$ (PBKDF2-SHA512) hash: '
                           "iteration count 0 is out of range 1..10000000")
    assert hash_ not in err
    assert path.read_text() == broken


def test_no_password_or_hash_is_ever_printed(tmp_path):
    path = tmp_path / "passwd"
    runs = [
        moat_passwd("-c", "-b", str(path), "alice", "Sup3r-Secret"),
        moat_passwd(str(path), "bob", stdin="An0ther-Secret\n"),
        moat_passwd("-b", str(path), "alice", "Sup3r-Secret-2"),
        moat_passwd("-D", str(path), "bob"),
        moat_passwd("-b", str(path), "", "Sup3r-Secret-3"),
    ]
    hashes = list(entries(path).values())
    path.write_text(path.read_text() + "carol:Plain-Secret\n")
    runs.append(moat_passwd("-b", str(path), "dave", "x"))  # refused: carol's line is plain
    runs.append(moat_passwd("-U", str(path)))
    hashes += list(entries(path).values())
    for run in runs:
        shown = run.stdout + run.stderr
        for secret in ["Sup3r-Secret", "An0ther-Secret", "Plain-Secret", *hashes]:
            assert secret not in shown, f"{run.args}: {shown}"
