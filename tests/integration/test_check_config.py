"""`moat check-config FILE`: exit 0 for a valid file; for an invalid one a nonzero exit and a
message on stderr that names the file and the line."""

import re
import subprocess

import pytest

from support.broker import DEFAULT_LIMITS, MOAT_BINARY, render_moat_config

pytestmark = pytest.mark.moat_only("Moat's own configuration command")


def check_config(path):
    return subprocess.run([str(MOAT_BINARY), "check-config", str(path)], capture_output=True,
                          text=True, timeout=10)


def write_config(tmp_path, text):
    path = tmp_path / "moat.toml"
    path.write_text(text)
    return path


def valid_config(tmp_path):
    return render_moat_config(tmp_path / "var", DEFAULT_LIMITS)


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def assert_names_file_and_line(stderr, path, line):
    assert str(path) in stderr, f"file not named in: {stderr!r}"
    assert re.search(rf"(:|line\s*){line}\b", stderr), f"line {line} not named in: {stderr!r}"


def test_valid_config_passes_check_config(tmp_path):
    result = check_config(write_config(tmp_path, valid_config(tmp_path)))
    assert result.returncode == 0, result.stderr


def test_unknown_key_fails_check_config_naming_file_and_line(tmp_path):
    text = valid_config(tmp_path).replace("[limits]\n", "[limits]\nmax_frobs = 3\n")
    path = write_config(tmp_path, text)
    result = check_config(path)
    assert result.returncode != 0
    assert_names_file_and_line(result.stderr, path, line_of(text, "max_frobs"))
    assert "max_frobs" in result.stderr


def test_unknown_section_fails_check_config(tmp_path):
    text = valid_config(tmp_path) + "\n[frobnicator]\nspeed = 1\n"
    path = write_config(tmp_path, text)
    result = check_config(path)
    assert result.returncode != 0
    assert str(path) in result.stderr


def test_value_of_the_wrong_type_fails_check_config_naming_file_and_line(tmp_path):
    text = valid_config(tmp_path).replace("workers = 2", 'workers = "two"')
    path = write_config(tmp_path, text)
    result = check_config(path)
    assert result.returncode != 0
    assert_names_file_and_line(result.stderr, path, line_of(text, "workers"))


def test_toml_syntax_error_fails_check_config_naming_file_and_line(tmp_path):
    text = valid_config(tmp_path).replace("workers = 2", "workers = = 2")
    path = write_config(tmp_path, text)
    result = check_config(path)
    assert result.returncode != 0
    assert_names_file_and_line(result.stderr, path, line_of(text, "workers"))


def test_missing_file_fails_check_config(tmp_path):
    result = check_config(tmp_path / "absent.toml")
    assert result.returncode != 0
    assert "absent.toml" in result.stderr


def test_serve_refuses_to_start_with_an_invalid_config(tmp_path):
    text = valid_config(tmp_path).replace("[limits]\n", "[limits]\nmax_frobs = 3\n")
    path = write_config(tmp_path, text)
    try:
        result = subprocess.run([str(MOAT_BINARY), "serve", "--config", str(path)],
                                capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("moat serve kept running with an invalid config")
    assert result.returncode != 0
    assert "max_frobs" in result.stderr
