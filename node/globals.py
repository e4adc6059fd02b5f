"""Global adapters by hash: the node's globals/ folder first; the task's initial global is derived
from the task (its init seed), never fetched; any other is fetched from peers by its content hash
and kept. The round loop takes its start global here, the validator the globals behind the
recent changes it judges against."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from loraswarm.files import write_atomic
from loraswarm.node.blobs import Blobs
from loraswarm.node.codec import AdapterSpec, Codec, Delta, content_hash, decode_delta, encode_delta
from loraswarm.node.round_result import ResultMismatch

GLOBAL_CODEC = Codec("fp32")  # globals are stored exactly: their hash is recorded on chain


def encode_global(state: Delta, spec: AdapterSpec) -> tuple[bytes, str]:
    data = encode_delta(state, spec, GLOBAL_CODEC)
    return data, content_hash(data)


class Globals:
    def __init__(self, data_dir: Path, spec: AdapterSpec, initial_hash: str,
                 initial: Callable[[], tuple[Delta, bytes, str]], blobs: Blobs) -> None:
        self.folder = data_dir / "globals"
        self.spec = spec
        self.initial_hash = initial_hash
        self._initial = initial
        self._blobs = blobs

    def path(self, global_hash: str) -> Path:
        return self.folder / f"{global_hash}.safetensors"

    async def bytes_of(self, global_hash: str, patience_s: float) -> bytes:
        """The global's wire bytes; raises BlobUnavailable when no peer served it in time."""
        path = self.path(global_hash)
        if path.exists():
            return path.read_bytes()
        if global_hash == self.initial_hash:
            _, data, digest = self._initial()
            if digest != global_hash:
                raise ResultMismatch(f"initial global {digest} differs from the task's {global_hash}")
        else:
            data = await self._blobs.fetch(bytes.fromhex(global_hash[2:]), "global", patience_s)
        self.keep(global_hash, data)
        return data

    def keep(self, global_hash: str, data: bytes) -> None:
        """Store a global's wire bytes (fetched, derived or aggregated here) under its hash."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path(global_hash), data)  # a kill mid-write leaves no truncated global

    async def state(self, global_hash: str, patience_s: float) -> Delta:
        return decode_delta(await self.bytes_of(global_hash, patience_s), self.spec)
