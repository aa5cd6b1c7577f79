"""Replacing a broker's files the way a careful operator deploys them, for tests of what the
broker does when its files change under it (TLS reload on file change)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

# How long ago install_long_ago() dates a file: long enough that a replacement differs in
# mtime even on a file system with one-second resolution.
INSTALLED_AGO = 3600.0


def install(source: Path, target: Path) -> None:
    """Puts a copy of `source` at `target` as a careful deploy does: a temporary file beside the
    target, renamed over it, so a reader sees the old file or the new one, never half of one."""
    temporary = target.with_name(f".{target.name}.new")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def install_long_ago(source: Path, target: Path) -> Path:
    """install(), then dated INSTALLED_AGO back: the file as the broker first finds it."""
    install(source, target)
    then = time.time() - INSTALLED_AGO
    os.utime(target, (then, then))
    return target
