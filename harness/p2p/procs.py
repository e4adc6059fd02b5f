"""Drive peer processes (`harness.p2p.peer`) from synchronous code: the tests and the
benchmark start real peers on 127.0.0.1 through this and always stop them."""

import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loraswarm.node.p2p.keys import KEY_ENV, PeerIdentity

SOURCE_ROOT = Path(__file__).resolve().parents[2]

Event = dict[str, Any]


class PeerFailed(RuntimeError):
    """The peer process died, did not answer in time, or answered with an error."""


class PeerHandle:
    def __init__(
        self,
        name: str,
        identity: PeerIdentity,
        workdir: Path,
        *,
        chain_id: int,
        coordinator: str,
        task_id: int,
        registered: list[str],
        bootstrap: list[str] | None = None,
        round: int = 0,
        listen: list[str] | None = None,
        module: str = "harness.p2p.peer",
        python_path: list[str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        """`command` replaces the Python peer with another program that speaks the same JSON
        lines (the js interop peer); it gets the key in the same environment variable."""
        self.name = name
        self.identity = identity
        self.workdir = workdir
        self.module = module
        self.python_path = python_path or []
        self.command = command
        self.config = {
            "chain_id": chain_id,
            "coordinator": coordinator,
            "task_id": task_id,
            "data_dir": str(workdir / "data"),
            "bootstrap": bootstrap or [],
            "registered": registered,
            "round": round,
            "listen": listen or ["/ip4/127.0.0.1/tcp/0"],
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: Event = {}
        self.received: list[Event] = []  # envelopes (Python peer) or messages (js peer)
        self.fetched: list[Event] = []  # blobs fetched on arrival (the auto_fetch op)
        self._replies: dict[int, queue.Queue[Event]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)

    @property
    def peer_id(self) -> str:
        return str(self.ready["peer_id"])

    @property
    def addr(self) -> str:
        return str(self.ready["addrs"][0])

    def start(self, timeout: float = 30.0) -> "PeerHandle":
        self.launch()
        self.wait(lambda: bool(self.ready), timeout, "ready")
        return self

    def launch(self) -> None:
        """Start the process without waiting for it to be ready (to start many at once)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "peer.json"
        config_path.write_text(json.dumps(self.config))
        env = {**os.environ, KEY_ENV: self.identity.account.key.hex()}
        # harness/ is not installed: the peer finds it (and tests/ modules) in the source tree.
        env["PYTHONPATH"] = os.pathsep.join([*self.python_path, str(SOURCE_ROOT), env.get("PYTHONPATH", "")])
        with self._lock:
            self.ready = {}
        stderr = os.open(self.workdir / "stderr.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.proc = subprocess.Popen(
                self.command or [sys.executable, "-m", self.module, "--config", str(config_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        finally:
            os.close(stderr)  # the child holds its own copy
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "reply" in msg:
                    self._replies.setdefault(msg["reply"], queue.Queue()).put(msg)
                elif msg.get("event") == "ready":
                    self.ready = msg
                elif msg.get("event") in ("received", "message"):
                    self.received.append(msg)
                elif msg.get("event") == "fetched":
                    self.fetched.append(msg)
                self._changed.notify_all()
        with self._lock:
            self._changed.notify_all()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive():
                    raise PeerFailed(f"{self.name}: no {what} within {timeout}s: {self.stderr_tail()}")
                self._changed.wait(min(left, 0.2))

    def request(self, op: str, timeout: float = 60.0, **args: Any) -> Event:
        if not self.alive() or self.proc is None or self.proc.stdin is None:
            raise PeerFailed(f"{self.name} is not running")
        req_id = next(self._ids)
        with self._lock:
            answers = self._replies.setdefault(req_id, queue.Queue())
        self.proc.stdin.write(json.dumps({"id": req_id, "op": op, **args}).encode() + b"\n")
        self.proc.stdin.flush()
        try:
            answer = answers.get(timeout=timeout)
        except queue.Empty:
            raise PeerFailed(f"{self.name}: {op} unanswered after {timeout}s") from None
        finally:
            with self._lock:
                self._replies.pop(req_id, None)
        if not answer.get("ok"):
            raise PeerFailed(f"{self.name}: {op} failed: {answer.get('error')}")
        return answer

    def received_where(self, predicate: Callable[[Event], bool]) -> list[Event]:
        with self._lock:
            return [e for e in self.received if predicate(e)]

    def stderr_tail(self, n: int = 2000) -> str:
        path = self.workdir / "stderr.log"
        return path.read_text(errors="replace")[-n:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the crash case, nothing gets to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def signal_stop(self) -> None:
        """Close stdin: the peer's signal to stop (lets several peers wind down at once)."""
        if self.proc is not None and self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()

    def stop(self) -> None:
        """Ask the peer to stop, then insist."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            self.signal_stop()
            proc.wait(5)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def eventually(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `check` (which may talk to peers) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise PeerFailed(f"no {what} within {timeout}s")
        time.sleep(interval)
