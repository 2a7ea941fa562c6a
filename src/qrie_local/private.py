"""The local stack's state directory is private to the user: the directory 0700, its files 0600.

It holds the local AWS's endpoint and control token, its saved state (every account, job,
resource and finding) and the logs, so nothing in it is for other users of the machine. Every
file the stack writes there goes through these helpers; the server and the runner also run with
a umask of 077, so what their children create is private too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

__all__ = ["DIR_MODE", "FILE_MODE", "UMASK", "open_append", "private_dir", "write_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents) if needed and make it 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    path.chmod(DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a 0600 temporary file renamed over it)."""
    tmp = path.with_name(f"{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an older temporary file keeps its mode otherwise
        with os.fdopen(fd, "wb") as out:
            fd = -1
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    finally:
        if fd != -1:
            os.close(fd)
    tmp.replace(path)


def open_append(path: Path) -> IO[bytes]:
    """``path`` opened for appending (a log), created 0600; an existing file is made 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, "ab")
