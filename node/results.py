"""Verified round result documents, kept as ``data_dir/results/<round>.json``.

A finalized round's document is on chain by hash (the tuple's acceptedRoot), so a node fetches it
from any peer that holds it, checks it against the whole finalized tuple, and only then keeps it.
Settlement needs the round's own document (claims, slashes), a validator the documents of earlier
rounds (replay history, reputation): a validator that joined late fetches those the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from loraswarm.files import write_atomic
from loraswarm.node.blobs import Blobs
from loraswarm.node.chain.task import FinalizedTuple
from loraswarm.node.round_result import ResultMismatch, RoundResult

logger = logging.getLogger(__name__)


class ResultBook:
    def __init__(self, directory: Path, blobs: Blobs) -> None:
        self.directory = directory
        self.blobs = blobs

    def _path(self, round_: int) -> Path:
        return self.directory / f"{round_}.json"

    def load(self, round_: int) -> RoundResult | None:
        """A document verified before it was saved (None if the node has none for the round)."""
        path = self._path(round_)
        return RoundResult.decode(path.read_bytes()) if path.is_file() else None

    def save(self, result: RoundResult, final: FinalizedTuple) -> None:
        result.check(final.as_tuple())
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomic(self._path(result.round), result.encode())

    async def obtain(self, round_: int, final: FinalizedTuple, patience_s: float) -> RoundResult:
        """The round's verified document, from disk or from a peer (BlobUnavailable after
        ``patience_s``; ResultMismatch if what hashes to acceptedRoot is not a valid document)."""
        known = self.load(round_)
        if known is not None:
            return known
        data = await self.blobs.fetch(final.accepted_root, "result", patience_s)
        try:
            result = RoundResult.decode(data)
        except ResultMismatch:
            logger.warning("round %d: the document behind the finalized acceptedRoot is malformed", round_)
            raise
        self.save(result, final)
        return result
