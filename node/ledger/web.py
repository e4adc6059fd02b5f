"""``loraswarm ledger serve``: the ledger as a web page (tables and plots), refreshed as rounds
finalize. Standard-library HTTP server on 127.0.0.1; the page polls ``api/ledger``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import requests

from loraswarm.errors import LoraswarmError
from loraswarm.node.ledger.views import Ledger
from loraswarm.node.status import NodeStatus


def ppl_curve(node_dirs: list[Path]) -> dict[str, Any]:
    """Mean held-out perplexity over the peers that reported it: base, then after each round."""
    statuses = [s for d in node_dirs if (s := NodeStatus.read(d / "status.json")) is not None]
    points = []
    base = [s.ppl["base"] for s in statuses if "base" in s.ppl]
    if base:
        points.append({"label": "base", "ppl": sum(base) / len(base)})
    rounds = sorted({int(k.split("@")[1]) for s in statuses for k in s.ppl if k.startswith("global@")})
    for r in rounds:
        values = [s.ppl[f"global@{r}"] for s in statuses if f"global@{r}" in s.ppl]
        points.append({"label": f"round {r}", "ppl": sum(values) / len(values)})
    return {"points": points}


def snapshot(ledger: Ledger, chain_id: int, node_dirs: list[Path], explorer: str | None = None) -> dict[str, Any]:
    """What the page shows; ``explorer`` is a transaction URL template with ``{tx}`` (the page
    links each transaction hash through it)."""
    return {
        "chain_id": chain_id, "task": ledger.task, "block": ledger.index.cursor_block(), "explorer": explorer,
        "peers": [asdict(r) for r in ledger.peers()], "rounds": [asdict(r) for r in ledger.rounds()],
        "entries": [asdict(e) for e in ledger.entries()], "slashes": [asdict(s) for s in ledger.slashes()],
        "reputation": [asdict(p) for p in ledger.reputation_series()], "ppl": ppl_curve(node_dirs),
    }


def make_server(port: int, load: Callable[[], dict[str, Any]], host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The page and its data; when a refresh cannot reach the chain, the data is the last good
    snapshot with an ``error`` that the page shows (the chain may come back)."""
    page = resources.files("loraswarm.node.ledger").joinpath("static/index.html").read_bytes()
    lock = threading.Lock()
    last: dict[str, Any] = {}

    def current() -> dict[str, Any]:
        try:
            last.update(load())
            last.pop("error", None)
        except LoraswarmError as exc:
            last["error"] = str(exc)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout):
            last["error"] = "chain unreachable: the RPC endpoint does not answer; retrying"
        return last

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", page)
            elif self.path == "/api/ledger":
                with lock:  # one SQLite connection behind the ledger: one request at a time
                    body = json.dumps(current()).encode()
                self._send(200, "application/json", body)
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # the CLI prints the URL once; per-request lines would drown it

    return ThreadingHTTPServer((host, port), Handler)
