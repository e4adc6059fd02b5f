"""A content-addressed store of blobs on disk, shared by the p2p layer and the node.

A blob's name is keccak256 of its bytes. Writes go to a temporary file that is fsynced and then
renamed, so a crash leaves either the whole blob or nothing under its name.
"""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from eth_utils import keccak

from loraswarm.protocol import wire


class HashMismatch(ValueError):
    """The bytes do not hash to the name they were offered under."""


def content_hash(data: bytes) -> bytes:
    return keccak(data)


def hash_hex(digest: bytes) -> str:
    return "0x" + digest.hex()


def parse_hash(text: str) -> bytes:
    raw = bytes.fromhex(text.removeprefix("0x"))
    if len(raw) != wire.HASH_BYTES:
        raise ValueError(f"a content hash has {wire.HASH_BYTES} bytes, got {len(raw)}")
    return raw


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
        digest = content_hash(data)
        if expected is not None and digest != expected:
            raise HashMismatch(f"expected {hash_hex(expected)}, got {hash_hex(digest)}")
        if self.has(digest):
            return digest
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path(digest))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:  # the rename itself must survive a crash too
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest

    def __iter__(self) -> Iterator[bytes]:
        for entry in self.root.iterdir():
            if not entry.name.startswith(".tmp-"):
                yield bytes.fromhex(entry.name)
