"""Atomic file replacement: concurrent writers, failures, permissions."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from loraswarm import files
from loraswarm.files import write_atomic
from loraswarm.node.status import NodeStatus


def test_concurrent_status_writes_never_fail_and_leave_one_whole_file(tmp_path: Path) -> None:
    # A node writes its status from the trio thread and from chain-call worker threads at once
    # (stall notices); a shared temporary name made one writer's rename fail (CI, session 3).
    path = tmp_path / "status.json"
    status = NodeStatus("n", "0xabc", ["trainer"], "honest")
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(k: int) -> None:
        start.wait()
        try:
            for i in range(200):
                status.detail = f"writer {k} step {i}"
                status.write(path)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert json.loads(path.read_text())["detail"].startswith("writer ")
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "deep" / "f.json"
    write_atomic(path, "old")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "old"

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, b"new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]
    write_atomic(path, b"new", durable=False)
    assert path.read_bytes() == b"new"
