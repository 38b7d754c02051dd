"""Atomic file replacement: readers see the old file or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(
    path: Path, data: bytes, *, durable: bool = True, mode: int = 0o644
) -> None:
    """Replace path with data through a temporary file and a rename.

    With durable=True the data and the rename are flushed to disk first, so a
    power cut leaves the old or the new content, not an empty file. The file
    gets the permissions of mode.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temporary file lives in the same folder: rename is atomic only there
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            if durable:
                temp.flush()
                os.fsync(temp.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError) and error.filename is None:
            # a failed write or flush names no file; the message should
            error.filename = str(path)
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries, so a completed rename survives a crash."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        # some file systems refuse fsync on folders; the rename still happened
        pass
    finally:
        os.close(fd)
