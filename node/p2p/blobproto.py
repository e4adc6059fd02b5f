"""`/loraswarm/blob/1.0.0`: fetch a blob by content hash over one yamux stream.

Request: the 32-byte keccak256 hash. Answer: one status byte; on FOUND an 8-byte big-endian
length and then the bytes, streamed. Content addressing is what makes every holder a valid
provider: the fetcher enforces its size limit before reading and checks the hash before the blob
is stored, so a lying or broken provider costs a retry with the next one, never a bad blob.
"""

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from loraswarm.node.faults import crash_point
from loraswarm.node.p2p.blobstore import BlobStore, PendingBlob, hash_hex
from loraswarm.node.p2p.errors import BlobUnavailable, HashMismatch
from loraswarm.protocol import wire
from loraswarm.protocol.codes import Reason

logger = logging.getLogger(__name__)

PROTOCOL = TProtocol(wire.BLOB_PROTOCOL)
FOUND = 0
NOT_FOUND = 1
CHUNK = 1 << 20
REQUEST_TIMEOUT_S = 10.0
# Long enough for a 64 MiB blob at a few MiB/s; a stalled provider is dropped after it.
TRANSFER_TIMEOUT_S = 60.0
MAX_CONCURRENT_UPLOADS = 8
# The reader hands chunks to one hashing/writing thread in batches of about this many bytes:
# a thread round trip costs about as much CPU as hashing a 64 KiB yamux frame, so one per frame
# (measured: ~250 per 16 MiB) would spend more than it saves.
BATCH_BYTES = 1 << 20
# Batches in flight between the network reader and that thread.
PIPELINE_DEPTH = 8


class _ProviderFailed(Exception):
    def __init__(self, reason: Reason | None, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


async def read_exactly(stream: INetStream, n: int) -> bytes:
    parts = bytearray()
    while len(parts) < n:
        chunk = await stream.read(min(n - len(parts), CHUNK))
        if not chunk:
            raise EOFError(f"stream ended after {len(parts)} of {n} bytes")
        parts += chunk
    return bytes(parts)


class BlobServer:
    """Serves every blob of the store to anyone who asks: holding a blob is being a provider."""

    def __init__(self, host: IHost, store: BlobStore) -> None:
        self.store = store
        self.served = 0
        self._slots = trio.Semaphore(MAX_CONCURRENT_UPLOADS)
        host.set_stream_handler(PROTOCOL, self.handle)

    async def handle(self, stream: INetStream) -> None:
        try:
            async with self._slots:
                with trio.fail_after(REQUEST_TIMEOUT_S):
                    digest = await read_exactly(stream, wire.HASH_BYTES)
                if not self.store.has(digest):
                    await stream.write(bytes([NOT_FOUND]))
                    await stream.close()
                    return
                with trio.fail_after(TRANSFER_TIMEOUT_S):
                    await self._send(stream, digest)
                self.served += 1
        except Exception as error:  # a peer that hangs up or stalls must not reach the node
            logger.debug("blob upload failed: %s", error)
            await _reset_quietly(stream)

    async def _send(self, stream: INetStream, digest: bytes) -> None:
        with self.store.path(digest).open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            await stream.write(bytes([FOUND]) + size.to_bytes(8, "big"))
            while chunk := handle.read(CHUNK):
                await stream.write(chunk)
        await stream.close()


class BlobFetcher:
    """Fetches by hash from a list of providers, first verified answer wins."""

    def __init__(self, host: IHost, store: BlobStore, rejected: Counter[Reason]) -> None:
        self.host = host
        self.store = store
        self.rejected = rejected

    async def fetch(
        self,
        digest: bytes,
        providers: Sequence[ID],
        max_bytes: int = wire.MAX_BLOB_BYTES,
        expected_size: int | None = None,
        purpose: str = "blob",
    ) -> Path:
        """Store the blob and return its path; raise BlobUnavailable when every provider failed.
        ``purpose`` names the fetch in logs and crash points."""
        if self.store.has(digest):
            return self.store.path(digest)
        limit = min(max_bytes, expected_size) if expected_size is not None else max_bytes
        failures: list[str] = []
        for provider in providers:
            if provider == self.host.get_id():
                continue
            try:
                await self._fetch_from(provider, digest, limit, expected_size, purpose)
            except _ProviderFailed as failure:
                if failure.reason is not None:
                    self.rejected[failure.reason] += 1
                failures.append(f"{provider}: {failure}")
                continue
            return self.store.path(digest)
        raise BlobUnavailable(f"{hash_hex(digest)} from {len(providers)} providers: {failures}")

    async def _fetch_from(
        self, provider: ID, digest: bytes, limit: int, expected_size: int | None, purpose: str
    ) -> None:
        pending = self.store.begin()
        try:
            with trio.fail_after(TRANSFER_TIMEOUT_S):
                stream = await self.host.new_stream(provider, [PROTOCOL])
                try:
                    await self._receive(stream, digest, limit, expected_size, pending, purpose)
                finally:
                    await _reset_quietly(stream)
            try:
                await trio.to_thread.run_sync(pending.commit, digest)
            except HashMismatch as error:
                raise _ProviderFailed(Reason.HASH_MISMATCH, str(error)) from error
        except _ProviderFailed:
            raise
        except Exception as error:  # unreachable, reset, timed out: try the next provider
            raise _ProviderFailed(None, repr(error)) from error
        finally:
            pending.abort()

    async def _receive(
        self, stream: INetStream, digest: bytes, limit: int, expected_size: int | None,
        pending: PendingBlob, purpose: str,
    ) -> None:
        await stream.write(digest)
        status = await read_exactly(stream, 1)
        if status[0] != FOUND:
            raise _ProviderFailed(None, "not found")
        size = int.from_bytes(await read_exactly(stream, 8), "big")
        if size > limit:
            raise _ProviderFailed(Reason.OVERSIZE, f"announced {size} bytes, limit {limit}")
        if expected_size is not None and size != expected_size:
            # the signed announcement fixed the size: these cannot be the announced bytes
            raise _ProviderFailed(Reason.HASH_MISMATCH, f"{size} bytes, announced {expected_size}")
        # Hash and write on a worker thread while the next chunks arrive: keccak and the disk
        # (both release the GIL) then run beside the Python-bound yamux reader, not after it.
        to_worker, batches = trio.open_memory_channel[list[bytes]](PIPELINE_DEPTH)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain, batches, pending)
            async with to_worker:
                left = size
                batch: list[bytes] = []
                held = 0
                while left:
                    chunk = await stream.read(min(left, CHUNK))
                    if not chunk:
                        raise EOFError(f"stream ended {left} bytes short")
                    left -= len(chunk)
                    batch.append(chunk)
                    held += len(chunk)
                    if held >= BATCH_BYTES or not left:
                        await to_worker.send(batch)
                        batch, held = [], 0
                    crash_point(f"fetching:{purpose}")


async def _drain(batches: trio.MemoryReceiveChannel[list[bytes]], pending: PendingBlob) -> None:
    async with batches:
        async for batch in batches:
            await trio.to_thread.run_sync(_write_all, pending, batch)


def _write_all(pending: PendingBlob, batch: list[bytes]) -> None:
    # One hash call and one write per batch, not per frame: each return from GIL-free C code must
    # win the GIL back from the busy reader (up to the 5 ms switch interval), so fewer calls
    # keep the thread hashing instead of waiting.
    pending.write(b"".join(batch))


async def _reset_quietly(stream: INetStream) -> None:
    try:
        await stream.reset()
    except Exception as error:  # already closed by the other side
        logger.debug("stream reset failed: %s", error)
