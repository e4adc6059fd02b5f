"""A content-addressed store of blobs on disk, shared by the p2p layer and the node.

A blob's name is keccak256 of its bytes. Writes go to a temporary file that is fsynced and then
renamed, so a crash leaves either the whole blob or nothing under its name.
"""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from loraswarm.keccak import keccak_stream
from loraswarm.node.p2p.errors import HashMismatch
from loraswarm.protocol import wire


def hash_hex(digest: bytes) -> str:
    return "0x" + digest.hex()


def parse_hash(text: str) -> bytes:
    raw = bytes.fromhex(text.removeprefix("0x"))
    if len(raw) != wire.HASH_BYTES:
        raise ValueError(f"a content hash has {wire.HASH_BYTES} bytes, got {len(raw)}")
    return raw


# Bytes written between two flushes to disk of a blob being received.
SYNC_EVERY = 4 << 20


class BlobStore:
    def __init__(self, root: os.PathLike[str] | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: bytes) -> Path:
        return self.root / digest.hex()

    def has(self, digest: bytes) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: bytes) -> int:
        return self.path(digest).stat().st_size

    def get(self, digest: bytes) -> bytes:
        return self.path(digest).read_bytes()

    def put(self, data: bytes, expected: bytes | None = None) -> bytes:
        """Store `data` and return its hash; with `expected`, refuse bytes that hash otherwise."""
        pending = self.begin()
        try:
            pending.write(data)
            return pending.commit(expected)
        finally:
            pending.abort()

    def begin(self) -> "PendingBlob":
        """A blob written piece by piece (as it streams in) and named only once complete."""
        return PendingBlob(self)

    def _sync_dir(self) -> None:
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:  # the rename itself must survive a crash too
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def discard(self, digest: bytes) -> None:
        """Forget a blob (old rounds' deltas); a missing blob is not an error."""
        self.path(digest).unlink(missing_ok=True)

    def __iter__(self) -> Iterator[bytes]:
        for entry in self.root.iterdir():
            if not entry.name.startswith(".tmp-"):
                yield bytes.fromhex(entry.name)


class PendingBlob:
    """Bytes on their way into the store: hashed and written as they come, then verified."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.size = 0
        self._synced = 0
        self._hasher = keccak_stream()
        fd, self._tmp = tempfile.mkstemp(dir=store.root, prefix=".tmp-")
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._hasher.update(chunk)
        self._file.write(chunk)
        self.size += len(chunk)
        if self.size - self._synced >= SYNC_EVERY:
            # flush to disk while the rest streams in, so the fsync in commit() has little left
            self._file.flush()
            os.fdatasync(self._file.fileno())
            self._synced = self.size

    def commit(self, expected: bytes | None = None) -> bytes:
        """Name the blob by its hash (refusing it if that is not `expected`); returns the hash."""
        digest = self._hasher.digest()
        if expected is not None and digest != expected:
            raise HashMismatch(f"expected {hash_hex(expected)}, got {hash_hex(digest)}")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self.store.has(digest):
            return digest
        os.replace(self._tmp, self.store.path(digest))
        self.store._sync_dir()
        return digest

    def abort(self) -> None:
        """Drop what was written unless it was committed (safe to call after commit)."""
        if not self._file.closed:
            self._file.close()
        Path(self._tmp).unlink(missing_ok=True)
