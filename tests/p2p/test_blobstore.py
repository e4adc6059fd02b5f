"""The content-addressed blob store."""

import pytest
from eth_utils import keccak

from loraswarm.node.p2p.blobstore import BlobStore, hash_hex, parse_hash
from loraswarm.node.p2p.errors import HashMismatch


def test_put_names_blobs_by_keccak256_and_refuses_a_wrong_name(tmp_path):
    store = BlobStore(tmp_path)
    digest = store.put(b"delta bytes")
    assert digest == keccak(b"delta bytes") and store.get(digest) == b"delta bytes"
    assert parse_hash(hash_hex(digest)) == digest
    with pytest.raises(HashMismatch):
        store.put(b"other bytes", expected=digest)
    assert list(store) == [digest]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_a_second_store_on_the_same_folder_sees_the_blobs(tmp_path):
    digest = BlobStore(tmp_path).put(b"x" * 1000)
    assert BlobStore(tmp_path).size(digest) == 1000
