"""The decoders that take bytes from outside, each as a fuzz target: a Hypothesis strategy of
hostile inputs and a property that every input must satisfy (a typed error, or a value that is
well formed). The CI tests (test_fuzz_*.py) and benchmarks/reliability.py run the same targets,
the benchmark with ten times the cases.

Inputs mix three kinds: arbitrary bytes, byte-level mutations of a valid encoding (where the
interesting bugs hide: almost-valid input reaches the deep checks) and structured JSON built from
arbitrary values."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import trio
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loraswarm.consensus.types import Fingerprint
from loraswarm.evm.deploy import BadDeploymentFile, Deployment
from loraswarm.keccak import keccak256
from loraswarm.node.codec import Codec, CodecError, decode_delta, encode_delta
from loraswarm.node.config import ConfigError, NodeConfig, load_config
from loraswarm.node.p2p import blobproto
from loraswarm.node.p2p.blobstore import BlobStore
from loraswarm.node.p2p.envelope import Domain, GlobalAdapter, ResultNote, Update, decode, sign
from loraswarm.node.p2p.errors import BlobUnavailable, DecodeError
from loraswarm.node.p2p.gossip import EdgeValidator
from loraswarm.node.round_result import ResultMismatch, RoundResult, VerdictRow
from loraswarm.protocol.codes import Reason
from loraswarm.protocol.taskspec import TaskSpec, TaskSpecError
from tests.training.codec_cases import SPEC, random_delta

CHAIN_ID = 31337
TASK_ID = 7
COORDINATOR = "0x" + "C0" * 20
# Fixed keys: a failing example must replay with the same signatures.
KEYS = [Account.from_key("0x" + f"{i + 1:02x}" * 32) for i in range(3)]
REGISTERED = {KEYS[0].address, KEYS[1].address}  # KEYS[2] signs but never registered
DOMAIN = Domain(CHAIN_ID, Account.from_key("0x" + "c0" * 32).address)
OTHER_DOMAIN = Domain(CHAIN_ID + 1, DOMAIN.coordinator)
# Per-case deadline: a case slower than this fails the run (a hang or a quadratic path).
FUZZ = settings(deadline=2000, database=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])


def _mutated(valid: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(valid)))
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "splice"]))
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            if op == "flip" and data:
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif op == "set" and data:
                data[at] = draw(st.sampled_from(b'\x00"\\[]{}:,0-9eE.+ \xff'))
            elif op == "truncate":
                del data[at:]
            elif op == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=16))
            elif op == "delete":
                del data[at : at + draw(st.integers(1, 16))]
            elif op == "splice":  # a piece of another valid input: plausible, wrong context
                other = draw(st.sampled_from(valid))
                start = draw(st.integers(0, len(other)))
                data[at:at] = other[start : start + draw(st.integers(1, 64))]
        return bytes(data)

    return build()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**260), 2**260) | st.floats() | st.text(max_size=70)
    | st.sampled_from(["0x" + "ab" * 32, KEYS[0].address, "0x", "1e999"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


def _json_objects(keys: Sequence[str]) -> st.SearchStrategy[bytes]:
    """Objects with the decoder's own field names (so the parse gets past the key checks)."""
    fields = st.dictionaries(st.sampled_from(list(keys)), JSON_VALUES, max_size=len(keys))
    return fields.map(lambda doc: json.dumps(doc, allow_nan=True).encode())


def _inputs(valid: Sequence[bytes], keys: Sequence[str]) -> st.SearchStrategy[bytes]:
    nested = st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)
    structured = [_json_objects(keys)] if keys else []
    return st.one_of(st.binary(max_size=512), _mutated(valid), _mutated(valid), nested, *structured)


@dataclass(frozen=True)
class Target:
    """One decoder: the inputs to try and the property each must satisfy."""

    name: str
    inputs: st.SearchStrategy[bytes]
    check: Callable[[bytes], None]


# --- delta codec ----------------------------------------------------------------------------------
_CODEC_VALID = [encode_delta(random_delta(i), SPEC, Codec.parse(c)) for i, c in enumerate(
    ["fp32", "fp16", "int8", "fp32+zstd", "int8+zstd"])]
_CODEC_REASONS = {r for r in Reason if r.name.startswith("CODEC_")}


def check_codec(data: bytes) -> None:
    try:
        delta = decode_delta(data, SPEC)
    except CodecError as exc:
        assert exc.reason in _CODEC_REASONS
        return
    assert list(delta) == list(SPEC.keys)
    for key, shape in SPEC.shapes:
        assert tuple(delta[key].shape) == shape and bool(torch.isfinite(delta[key]).all())


# --- envelopes ------------------------------------------------------------------------------------
def _bodies(peer: str, round_: int) -> list[Update | GlobalAdapter | ResultNote]:
    return [
        Update(TASK_ID, round_, peer, b"\x01" * 32, b"\x02" * 32, 1234, 64, 2, b"\x03" * 32),
        GlobalAdapter(TASK_ID, round_ - 1, peer, b"\x04" * 32, 999),
        ResultNote(TASK_ID, round_ - 1, peer, b"\x05" * 32, 4096),
    ]


def _signed(domain: Domain, key_index: int, round_: int = 3) -> list[bytes]:
    account = KEYS[key_index]
    return [sign(domain, body, account).encode() for body in _bodies(account.address, round_)]


_ENVELOPE_VALID = _signed(DOMAIN, 0) + _signed(DOMAIN, 1, 4) + _signed(OTHER_DOMAIN, 0) + _signed(DOMAIN, 2)
_ENVELOPE_KEYS = ["type", "chainId", "coordinator", "message", "signature"]


def check_envelope(data: bytes) -> None:
    try:
        envelope = decode(data)
    except DecodeError as exc:
        assert exc.reason == Reason.BAD_ENCODING
        return
    # Only the canonical encoding decodes (the signature itself is the edge validator's check).
    assert envelope.encode() == data


# --- gossip edge validator ------------------------------------------------------------------------
class _Failures(logging.Handler):
    """The edge validator turns a crash in a check into one rejected message and logs it; for
    the fuzzer, that log line is the crash."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_GOSSIP_FAILURES = _Failures()
logging.getLogger("loraswarm.node.p2p.gossip").addHandler(_GOSSIP_FAILURES)


def check_gossip(data: bytes) -> None:
    validator = EdgeValidator(CHAIN_ID, DOMAIN.coordinator, TASK_ID, REGISTERED.__contains__, current_round=3)
    before = len(_GOSSIP_FAILURES.records)
    reason, envelope = validator.check(data, None)
    assert len(_GOSSIP_FAILURES.records) == before, "a check raised inside the edge validator"
    assert isinstance(reason, Reason)
    if reason == Reason.ACCEPTED:
        assert envelope is not None and envelope.encode() == data
        assert envelope.signer() == envelope.body.peer and envelope.body.peer in REGISTERED
        assert envelope.domain == DOMAIN and envelope.body.task_id == TASK_ID
        # the same bytes again are a duplicate, never a second acceptance
        assert validator.check(data, None)[0] == Reason.DUPLICATE
    else:
        assert envelope is None


# --- blob protocol frames -------------------------------------------------------------------------
class _Stream:
    """An in-memory stream: the peer's bytes arrive in the chunks the fuzzer chose."""

    def __init__(self, incoming: list[bytes]) -> None:
        self.incoming = incoming
        self.written = bytearray()

    async def read(self, n: int) -> bytes:
        await trio.lowlevel.checkpoint()
        if not self.incoming:
            return b""
        head = self.incoming[0]
        self.incoming[0] = head[n:]
        if not self.incoming[0]:
            self.incoming.pop(0)
        return head[:n]

    async def write(self, data: bytes) -> None:
        await trio.lowlevel.checkpoint()
        self.written += data

    async def close(self) -> None:
        await trio.lowlevel.checkpoint()

    async def reset(self) -> None:
        await trio.lowlevel.checkpoint()


class _Host:
    def __init__(self, answers: list[list[bytes]]) -> None:
        self.answers = answers

    def get_id(self) -> str:
        return "self"

    def set_stream_handler(self, protocol: str, handler: object) -> None:
        pass

    async def new_stream(self, provider: str, protocols: list[str]) -> _Stream:
        await trio.lowlevel.checkpoint()
        if provider == "unreachable":
            raise ConnectionError("refused")
        return _Stream(self.answers.pop(0))


_BLOB = b"the honest blob " * 8
_BLOB_HASH = keccak256(_BLOB)
_BLOB_VALID = [bytes([blobproto.FOUND]) + len(_BLOB).to_bytes(8, "big") + _BLOB, bytes([blobproto.NOT_FOUND])]
# tmpfs where there is one: the blob store fsyncs every blob, which on a disk dominated the run.
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None
_BLOB_ROOT = Path(tempfile.mkdtemp(prefix="loraswarm-fuzz-blob-", dir=_SCRATCH))


def check_blob_frames(data: bytes) -> None:
    """``data`` is what a provider answers (split at a fuzzed point), then what a client asks our
    server. The fetcher must store exactly the requested blob or give up with BlobUnavailable; the
    server must answer or hang up, never raise."""
    store = BlobStore(_BLOB_ROOT / os.urandom(6).hex())
    rejected: Counter[Reason] = Counter()
    cut = data[0] % 16 if data else 0
    answer = [data[1 : 1 + cut], data[1 + cut :]]
    host = _Host([answer, list(_BLOB_VALID[:1])])

    async def fetch() -> bytes | None:
        fetcher = blobproto.BlobFetcher(host, store, rejected)  # type: ignore[arg-type]
        try:
            # the fuzzed provider first, an unreachable one, then an honest one
            path = await fetcher.fetch(_BLOB_HASH, ["fuzzed", "unreachable", "honest"],  # type: ignore[list-item]
                                       max_bytes=4096)
        except BlobUnavailable:
            return None
        return path.read_bytes()

    got = trio.run(fetch)
    assert got == _BLOB, "the honest provider's bytes must win whatever the first one sent"
    assert set(rejected) <= {Reason.OVERSIZE, Reason.HASH_MISMATCH}
    server_store = BlobStore(_BLOB_ROOT / os.urandom(6).hex())
    server_store.put(_BLOB)
    request = _Stream([data[:40], data[40:]])

    async def serve() -> None:
        await blobproto.BlobServer(host, server_store).handle(request)  # type: ignore[arg-type]

    trio.run(serve)
    if data[:32] == _BLOB_HASH:
        assert bytes(request.written) == _BLOB_VALID[0]
    elif len(data) >= 32:
        assert bytes(request.written) == bytes([blobproto.NOT_FOUND])


# --- config files (TOML) --------------------------------------------------------------------------
_CONFIG_VALID = [text.encode() for text in [
    '[node]\nname = "alice"\ndata_dir = "data/alice"\nroles = ["trainer", "validator"]\n'
    '[keys]\nkeystore = "k.json"\n[chain]\ndeployment = "d.json"\ntask_file = "t.json"\n'
    '[p2p]\nlisten = "/ip4/127.0.0.1/tcp/9100"\nbootstrap = ["/ip4/127.0.0.1/tcp/9101"]\n'
    '[training]\ntopics = ["computers"]\nthreads = 2\n[metrics]\nport = 9400\n',
    '[node]\nname = "b"\ndata_dir = "/x"\n[keys]\nkeystore = "k"\npassword_env = "P"\n'
    '[chain]\ndeployment = "d"\ntask_file = "t"\nconfirmations = 2\npoll_s = 0.5\n',
]]
_FILES = Path(tempfile.mkdtemp(prefix="loraswarm-fuzz-files-", dir=_SCRATCH))


def check_config(data: bytes) -> None:
    path = _FILES / "peer.toml"
    path.write_bytes(data)
    try:
        config = load_config(path)
    except ConfigError:
        return
    assert isinstance(config, NodeConfig) and config.node.data_dir.is_absolute()


# --- deployment files -----------------------------------------------------------------------------
_DEPLOYMENT_VALID = [Deployment(
    CHAIN_ID, "local", "http://127.0.0.1:8545", KEYS[0].address, 1,
    {"Coordinator": DOMAIN.coordinator}, {"Coordinator": "0x" + "ab" * 32},
).to_json().encode()]


def check_deployment(data: bytes) -> None:
    path = _FILES / "deployment.json"
    path.write_bytes(data)
    try:
        deployment = Deployment.from_file(path)
    except BadDeploymentFile:
        return
    assert type(deployment.chain_id) is int and all(isinstance(a, str) for a in deployment.addresses.values())


# --- round result documents -----------------------------------------------------------------------
_RESULT_VALID = [RoundResult(
    TASK_ID, 3, "0x" + "11" * 32,
    (VerdictRow(KEYS[0].address, 0, Fingerprint("0x" + "22" * 32, (3, -1, 0))), VerdictRow(KEYS[1].address, 45)),
    ((KEYS[0].address, 10**18),), ((KEYS[1].address, 5 * 10**17, 45),),
).encode()]


def check_round_result(data: bytes) -> None:
    try:
        result = RoundResult.decode(data)
    except ResultMismatch:
        return
    result.roots()  # what a reader does next: it must not fail on anything decode accepted
    result.slash_orders()
    result.fingerprints()


# --- task files -----------------------------------------------------------------------------------
_TASK_VALID = [TaskSpec(task_id=3, consensus={"quorum_bps": 6667, "trim": 0.2}).model_dump_json().encode()]


def check_task(data: bytes) -> None:
    path = _FILES / "task.json"
    path.write_bytes(data)
    try:
        spec = TaskSpec.read(path)
    except TaskSpecError:
        return
    assert spec.task_id >= 1


TARGETS = {
    "codec": Target("codec", _inputs(_CODEC_VALID, ["__metadata__", *SPEC.keys]), check_codec),
    "envelope": Target("envelope", _inputs(_ENVELOPE_VALID, _ENVELOPE_KEYS), check_envelope),
    "gossip": Target("gossip", _inputs(_ENVELOPE_VALID, _ENVELOPE_KEYS), check_gossip),
    "blob_frames": Target("blob_frames", _inputs([h + a for h in (_BLOB_HASH, b"\x00" * 32) for a in _BLOB_VALID],
                                                 []), check_blob_frames),
    "config": Target("config", _inputs(_CONFIG_VALID, ["node", "keys", "chain", "p2p"]), check_config),
    "deployment": Target("deployment", _inputs(_DEPLOYMENT_VALID, list(Deployment.__dataclass_fields__)),
                         check_deployment),
    "round_result": Target("round_result", _inputs(_RESULT_VALID, ["task_id", "round", "global_hash", "verdicts",
                                                                   "rewards", "slashes"]), check_round_result),
    "task": Target("task", _inputs(_TASK_VALID, list(TaskSpec.model_fields)), check_task),
}


def run(target: Target, cases: int) -> int:
    """Run ``cases`` inputs through one target (Hypothesis raises on the first failure); return
    how many ran."""
    ran = 0

    @settings(FUZZ, max_examples=cases)
    @given(target.inputs)
    def one(data: bytes) -> None:
        nonlocal ran
        ran += 1
        target.check(data)

    one()
    return ran

