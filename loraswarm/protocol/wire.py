"""Wire constants of the p2p layer: topic names, protocol ids, EIP-712 types and size limits.

Everything a peer in another language (the js interop peer, a future go peer) must agree on
lives here, so that one edit changes every side.
"""

from typing import Final

# -- libp2p protocol ids --------------------------------------------------------------------------
BLOB_PROTOCOL: Final = "/loraswarm/blob/1.0.0"
# Both gossipsub versions that py-libp2p 0.8.1 and js-libp2p 3.x speak in common.
GOSSIPSUB_PROTOCOLS: Final = ("/meshsub/1.1.0", "/meshsub/1.0.0")

# -- topics ---------------------------------------------------------------------------------------
TOPIC_PREFIX: Final = "loraswarm"
UPDATES_TOPIC: Final = "updates/1"
ROUNDS_TOPIC: Final = "rounds/1"


def topic(chain_id: int, task_id: int, kind: str) -> str:
    """A topic per chain and task: peers of different deployments never share a mesh."""
    return f"{TOPIC_PREFIX}/{chain_id}/{task_id}/{kind}"


# -- EIP-712 --------------------------------------------------------------------------------------
EIP712_NAME: Final = "loraswarm"
EIP712_VERSION: Final = "1"
EIP712_DOMAIN_TYPE: Final = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
)
# A revealed update; its EIP-712 digest is the peer's on-chain commitment. `peer` lets a
# verifier tell a forged signature (recovers to someone else) from an unregistered signer, and
# `deltaSize` lets a fetcher refuse a blob stream longer than the signer promised.
UPDATE_TYPE: Final = (
    ("taskId", "uint256"),
    ("round", "uint64"),
    ("peer", "address"),
    ("baseHash", "bytes32"),
    ("deltaHash", "bytes32"),
    ("deltaSize", "uint64"),
    ("sampleCount", "uint64"),
    ("codecId", "uint16"),
    ("salt", "bytes32"),
)
# A finalized global adapter, mirrored from the chain onto the rounds topic so that late joiners
# learn its hash and a provider without polling the chain.
GLOBAL_TYPE: Final = (
    ("taskId", "uint256"),
    ("round", "uint64"),
    ("peer", "address"),
    ("globalHash", "bytes32"),
    ("globalSize", "uint64"),
)

# Where a round's result document can be fetched (its hash is the finalized tuple's first element),
# announced by a validator after it opened its attestation: the announcer is a provider.
RESULT_NOTE_TYPE: Final = (
    ("taskId", "uint256"),
    ("round", "uint64"),
    ("peer", "address"),
    ("resultHash", "bytes32"),
    ("resultSize", "uint64"),
)

# -- limits ---------------------------------------------------------------------------------------
# A signed announcement encodes to ~700 bytes of canonical JSON; 4 KiB leaves room for growth and
# rejects anything that tries to carry a payload on gossip.
MAX_ENVELOPE_BYTES: Final = 4 * 1024
# One gossip RPC frame may batch many announcements plus control messages. py-libp2p splits its
# outbound RPCs at 1 MiB (not configurable in 0.8.1), so an honest Python peer never sends more;
# a larger frame makes py-libp2p reset that peer's pubsub stream. Each message inside is still
# held to MAX_ENVELOPE_BYTES by the edge validator.
MAX_GOSSIP_RPC_BYTES: Final = 1024 * 1024
# Deltas are ~2 MB fp32 (SmolLM2-135M, LoRA r=8 on q,v), global adapters the same; 64 MiB bounds any blob.
MAX_BLOB_BYTES: Final = 64 * 1024 * 1024
HASH_BYTES: Final = 32

# -- gossipsub tuning (measured: the py-libp2p defaults do not fit this job) ---------------------
HEARTBEAT_S: Final = 1
# A round of N peers publishes N announcements in a burst; py-libp2p's default spam limit of
# 10 msg/s per topic would drop a round of more than ten peers.
MAX_MESSAGES_PER_TOPIC_PER_S: Final = 200.0
MESH_DEGREE: Final = 6
MESH_DEGREE_LOW: Final = 4
MESH_DEGREE_HIGH: Final = 12
SEEN_TTL_S: Final = 600
