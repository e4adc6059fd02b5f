"""Deeply nested JSON against every JSON decoder, in a child process: eth-account imports
py_ecc, which raises the recursion limit to 100000, so an unguarded ``json.loads`` overflows the
C stack (a segfault that would take the test runner down) instead of raising RecursionError.

The child first shows that the hazard is real (a bare ``json.loads`` dies by SIGSEGV), then feeds
the same nesting to each decoder, which must answer with its typed error."""

import signal
import subprocess
import sys
import textwrap

import pytest

DEPTH = 200_000

CHILD = textwrap.dedent(f"""
    import json, sys, tempfile
    from pathlib import Path
    import eth_account  # noqa: F401  (raises the recursion limit, as in the node)
    from loraswarm.node.codec import AdapterSpec, CodecError, decode_delta
    from loraswarm.node.config import ConfigError, load_config
    from loraswarm.node.p2p.envelope import decode
    from loraswarm.node.p2p.errors import DecodeError
    from loraswarm.node.round_result import ResultMismatch, RoundResult
    from loraswarm.protocol.taskspec import TaskSpec, TaskSpecError
    from loraswarm.evm.deploy import BadDeploymentFile, Deployment

    deep = b"[" * {DEPTH} + b"]" * {DEPTH}
    # UTF-16: multi-byte characters holding a 0x22 byte open fake strings for a bytes scanner
    hidden = ('["\\u2200", ' + "[" * {DEPTH} + '"x"' + "]" * {DEPTH} + "]").encode("utf-16-le")
    files = Path(tempfile.mkdtemp())

    def expect(name, error, call):
        try:
            call()
        except error:
            print("typed", name, flush=True)
        else:
            print("accepted", name, flush=True)

    def file_with(data):
        path = files / str(len(list(files.iterdir())))
        path.write_bytes(data)
        return path

    # A spec with many long keys: its header limit admits {DEPTH} brackets.
    spec = AdapterSpec.of([(f"k{{i:04d}}" + "x" * 200, (1,)) for i in range(1000)])
    header = b'{{"__metadata__":' + deep[: {DEPTH} // 2] + deep[{DEPTH}:{DEPTH} + {DEPTH} // 2] + b"}}"
    header += b" " * (-len(header) % 8)
    expect("codec", CodecError, lambda: decode_delta(len(header).to_bytes(8, "little") + header, spec))
    expect("envelope", DecodeError, lambda: decode(deep))
    expect("round_result", ResultMismatch, lambda: RoundResult.decode(deep))
    expect("round_result_utf16", ResultMismatch, lambda: RoundResult.decode(hidden))
    expect("deployment", BadDeploymentFile, lambda: Deployment.from_file(file_with(deep)))
    expect("deployment_utf16", BadDeploymentFile, lambda: Deployment.from_file(file_with(hidden)))
    expect("task", TaskSpecError, lambda: TaskSpec.read(file_with(b'{{"task_id":1,"consensus":' + deep + b"}}")))
    expect("config", ConfigError, lambda: load_config(file_with(b"a = " + deep)))
    if sys.argv[1:] == ["control"]:
        json.loads(deep)
""")


def run_child(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.e2e
def test_every_json_decoder_refuses_deep_nesting_without_crashing() -> None:
    child = run_child()
    assert child.returncode == 0, child.stderr[-2000:]
    lines = child.stdout.split()
    assert lines.count("typed") == 8 and "accepted" not in lines, child.stdout


@pytest.mark.e2e
def test_the_hazard_is_real_a_bare_json_loads_segfaults() -> None:
    # Without this control the test above could pass because the hazard went away, not the bug.
    child = run_child("control")
    assert child.returncode == -signal.SIGSEGV, (child.returncode, child.stderr[-2000:])
