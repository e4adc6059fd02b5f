"""Decode revert data into the contract's custom error name, from the ABIs' error entries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eth_utils import keccak


def error_selectors(abis: Iterable[list[dict[str, Any]]]) -> dict[str, str]:
    """4-byte selector (0x-hex) -> error signature, over every custom error in the ABIs."""
    selectors: dict[str, str] = {}
    for abi in abis:
        for item in abi:
            if item.get("type") != "error":
                continue
            signature = f"{item['name']}({','.join(i['type'] for i in item.get('inputs', []))})"
            selectors["0x" + keccak(text=signature)[:4].hex()] = item["name"]
    return selectors


def revert_name(data: Any, selectors: dict[str, str]) -> str:
    """The custom error's name for revert data (bytes or 0x-hex), or a short fallback."""
    if isinstance(data, bytes | bytearray):
        data = "0x" + bytes(data).hex()
    if not isinstance(data, str) or not data.startswith("0x") or len(data) < 10:
        return str(data)
    return selectors.get(data[:10].lower(), f"unknown error {data[:10]}")
