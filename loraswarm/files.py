"""Atomic file replacement, shared by everything that rewrites a file others may read."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` via a uniquely named temporary file and a rename: a reader (or a
    restart after a crash) sees the old file or the new one, never half of one, and concurrent
    writers never share a temporary file. ``durable`` fsyncs before the rename, so that the new
    content survives a power loss once the call returns. The file is created with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
