"""Test networks on one machine: hosts in their own network namespaces on one emulated LAN, with
netem-like delay and loss, that can be partitioned and healed.

    with NetLab(3, tmp_path, Netem(delay_ms=50, loss=0.01)) as lab:
        subprocess.run([*lab.exec_prefix(0), "ip", "addr"])     # runs inside lsw-<pid>-0
        lab.partition([0], [1, 2])                               # 0 hears nobody, nobody hears 0
        lab.heal()

Host i lives in namespace ``lsw-<pid>-<i>`` with address ``10.77.<k>.<i+2>/24``; the root
namespace sits on the same LAN as ``10.77.<k>.1`` (the gateway: run the chain there), and is
never partitioned from anyone, as a public chain would not be.

Why a userspace switch rather than veth + bridge + ``tc qdisc ... netem``: the kernel of this
machine kind is built without sch_netem (CONFIG_NET_SCH_NETEM unset; nor red, fq, gact or an
iptables/nft binary to drop packets with), so netem cannot be had in the kernel. Each namespace
gets a tap device instead; the other end of every tap is a file descriptor held by the switch
process (``python -m tests.reliability.netns``), which forwards Ethernet frames between them as
a learning switch, holding each frame that leaves a namespace for the delay and dropping the
lost share, exactly where netem on the namespace's egress would. Tap devices without offloads
hand the switch frames of at most one MTU, already checksummed.

Everything is removed on exit, on failure too: the taps vanish with the switch's descriptors,
the namespaces are deleted. A run that was killed leaves namespaces named after a dead pid;
the next run deletes them (and ends the processes still inside) before it starts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

PREFIX = "lsw"
NETNS_RE = re.compile(rf"^{PREFIX}-(\d+)-\w+$")
SUBNET = "10.77"
# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
FRAME_MAX = 65536
READY_TIMEOUT_S = 10.0


class NetnsUnavailable(RuntimeError):
    """The kernel or the user's rights do not allow namespaces and tap devices here."""


@dataclass(frozen=True)
class Netem:
    """What each frame leaving a namespace suffers (netem's delay and loss)."""

    delay_ms: float = 50.0
    loss: float = 0.01


@dataclass(frozen=True)
class Host:
    index: int
    netns: str
    ip: str
    tap: str


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def open_tap(name: str) -> int:
    """Create tap device `name`, owned by the returned descriptor (it vanishes when that closes)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def require_netns() -> None:
    """NetnsUnavailable unless a namespace and a tap device can actually be made (and are)."""
    name = f"{PREFIX}-{os.getpid()}-probe"
    try:
        made = _ip("netns", "add", name, check=False)
        if made.returncode != 0:
            raise NetnsUnavailable(f"cannot create a network namespace: {made.stderr.strip()}")
        try:
            os.close(open_tap(f"{PREFIX}{os.getpid()}p"))
        except OSError as error:
            raise NetnsUnavailable(f"cannot create a tap device: {error}") from error
    except FileNotFoundError as error:  # no `ip` binary
        raise NetnsUnavailable(str(error)) from error
    finally:
        _ip("netns", "del", name, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True


def _delete_netns(name: str) -> None:
    """End what still runs inside (processes a test started there), then delete it."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", name, check=False)


def remove_leftovers() -> list[str]:
    """Delete the namespaces of runs whose process is gone; return their names."""
    removed = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = NETNS_RE.match(name)
        if match and not _alive(int(match.group(1))):
            _delete_netns(name)
            removed.append(name)
    return removed


def _free_subnet() -> int:
    """A third octet k such that no address of the root namespace is in 10.77.k.0/24 (other
    runs on this machine hold theirs)."""
    used = set(re.findall(rf"inet {re.escape(SUBNET)}\.(\d+)\.", _ip("-4", "-o", "addr", "show").stdout))
    for k in range(256):
        if str(k) not in used:
            return k
    raise RuntimeError(f"every {SUBNET}.k.0/24 is in use")


class NetLab:
    def __init__(self, n: int, workdir: Path, netem: Netem | None = None, seed: int = 0) -> None:
        self.n = n
        self.workdir = workdir
        self.netem = netem or Netem()
        self.seed = seed
        self.tag = f"{PREFIX}{os.getpid()}"
        self.hosts: list[Host] = []
        self.gateway = ""
        self._switch: subprocess.Popen[str] | None = None

    def __enter__(self) -> NetLab:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        remove_leftovers()
        k = _free_subnet()
        self.gateway = f"{SUBNET}.{k}.1"
        self.hosts = [Host(i, f"{PREFIX}-{os.getpid()}-{i}", f"{SUBNET}.{k}.{i + 2}", f"{self.tag}n{i}")
                      for i in range(self.n)]
        root_tap = f"{self.tag}r"
        for host in self.hosts:
            _ip("netns", "add", host.netns)
            _ip("-n", host.netns, "link", "set", "lo", "up")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "switch.log").open("w") as log:
            self._switch = subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.netns", "--delay-ms", str(self.netem.delay_ms),
                 "--loss", str(self.netem.loss), "--seed", str(self.seed), root_tap, *(h.tap for h in self.hosts)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                cwd=Path(__file__).resolve().parents[2],
            )
        self._read_answer(READY_TIMEOUT_S)
        _ip("addr", "add", f"{self.gateway}/24", "dev", root_tap)
        _ip("link", "set", root_tap, "up")
        for host in self.hosts:
            _ip("link", "set", host.tap, "netns", host.netns)
            _ip("-n", host.netns, "addr", "add", f"{host.ip}/24", "dev", host.tap)
            _ip("-n", host.netns, "link", "set", host.tap, "up")

    def exec_prefix(self, index: int) -> list[str]:
        """Prefix a command with this to run it inside host `index`'s namespace."""
        return ["ip", "netns", "exec", self.hosts[index].netns]

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut every host off from the hosts of the other groups (hosts in no group, and the
        gateway, still reach everyone); frames already in flight across the cut are lost."""
        self._request({"op": "partition", "groups": [[i + 1 for i in g] for g in groups]})

    def heal(self) -> None:
        self._request({"op": "heal"})

    def stats(self) -> dict[str, int]:
        """Frames forwarded, lost (netem) and cut (partition) so far."""
        return {k: int(v) for k, v in self._request({"op": "stats"}).items() if k != "ok"}

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._switch is None or self._switch.stdin is None or self._switch.poll() is not None:
            raise RuntimeError(f"the switch is not running: {self._log_tail()}")
        self._switch.stdin.write(json.dumps(request) + "\n")
        self._switch.stdin.flush()
        return self._read_answer(READY_TIMEOUT_S)

    def _read_answer(self, timeout_s: float) -> dict[str, Any]:
        assert self._switch is not None and self._switch.stdout is not None
        ready, _, _ = select.select([self._switch.stdout], [], [], timeout_s)
        line = self._switch.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the switch did not answer: {self._log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _log_tail(self) -> str:
        path = self.workdir / "switch.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def close(self) -> None:
        """Idempotent: stop the switch (its taps go with it), delete the namespaces."""
        switch, self._switch = self._switch, None
        if switch is not None:
            if switch.stdin is not None:
                switch.stdin.close()  # EOF is the switch's signal to stop
            try:
                switch.wait(5)
            except subprocess.TimeoutExpired:
                switch.kill()
                switch.wait(5)
            if switch.stdout is not None:
                switch.stdout.close()
        for host in self.hosts:
            _delete_netns(host.netns)


# -- the switch process ------------------------------------------------------------------------

def _emit(out: IO[str], obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


class Switch:
    """A learning Ethernet switch between tap descriptors; port 0 is the gateway's."""

    def __init__(self, taps: list[int], delay_s: float, loss: float, seed: int) -> None:
        self.taps = taps
        self.delay_s = delay_s
        self.loss = loss
        self.rng = random.Random(seed)
        self.macs: dict[bytes, int] = {}
        self.group: dict[int, int] = {}
        # every delayed frame waits the same time, so arrival order is release order: a FIFO
        self.delayed: deque[tuple[float, int, bytes]] = deque()
        self.counts: Counter[str] = Counter()

    def connected(self, a: int, b: int) -> bool:
        ga, gb = self.group.get(a), self.group.get(b)
        return ga is None or gb is None or ga == gb

    def receive(self, port: int, frame: bytes, now: float) -> None:
        if len(frame) < 14:
            return
        source = frame[6:12]
        if not source[0] & 1:  # a unicast source address: learn where it lives
            self.macs[source] = port
        if port == 0:
            self.deliver(port, frame)
        elif self.rng.random() < self.loss:
            self.counts["lost"] += 1
        else:
            self.delayed.append((now + self.delay_s, port, frame))

    def release(self, now: float) -> float | None:
        """Deliver the frames whose delay is over; seconds until the next one is due."""
        while self.delayed and self.delayed[0][0] <= now:
            _, port, frame = self.delayed.popleft()
            self.deliver(port, frame)
        return self.delayed[0][0] - now if self.delayed else None

    def deliver(self, port: int, frame: bytes) -> None:
        known = self.macs.get(frame[0:6])
        for out in [known] if known is not None else range(len(self.taps)):
            if out == port:
                continue
            if not self.connected(port, out):
                self.counts["cut"] += 1
                continue
            try:
                os.write(self.taps[out], frame)
                self.counts["forwarded"] += 1
            except OSError:  # the tap's queue is full or it is down: a lost frame, as on a wire
                self.counts["write_failed"] += 1

    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        if request["op"] == "partition":
            self.group = {port: g for g, ports in enumerate(request["groups"]) for port in ports}
        elif request["op"] == "heal":
            self.group = {}
        elif request["op"] != "stats":
            return {"ok": False, "error": f"unknown op {request['op']!r}"}
        return {"ok": True, **self.counts}


def run_switch(names: list[str], delay_s: float, loss: float, seed: int) -> None:
    taps = [open_tap(name) for name in names]
    switch = Switch(taps, delay_s, loss, seed)
    port_of = {fd: port for port, fd in enumerate(taps)}
    stdin = sys.stdin.fileno()
    poller = select.poll()
    for fd in [stdin, *taps]:
        poller.register(fd, select.POLLIN)
    _emit(sys.stdout, {"ok": True, "ready": True})
    pending = b""
    wait_s = None
    while True:
        events = poller.poll(None if wait_s is None else max(0, int(wait_s * 1000) + 1))
        now = time.monotonic()
        for fd, _ in events:
            if fd == stdin:
                chunk = os.read(stdin, 65536)
                if not chunk:
                    return  # the parent closed our stdin or died: stop, the taps go with us
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    _emit(sys.stdout, switch.command(json.loads(line)))
                continue
            # a bounded batch per tap, so that one busy sender cannot starve the others
            for _ in range(64):
                try:
                    frame = os.read(fd, FRAME_MAX)
                except BlockingIOError:
                    break
                switch.receive(port_of[fd], frame, now)
        wait_s = switch.release(time.monotonic())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="the emulated LAN's switch (started by NetLab)")
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--loss", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("taps", nargs="+", help="tap devices to create; the first is the gateway's")
    args = parser.parse_args(argv)
    run_switch(args.taps, args.delay_ms / 1000, args.loss, args.seed)


if __name__ == "__main__":
    main()
