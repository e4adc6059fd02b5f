"""Bound the nesting depth of untrusted JSON before parsing it.

eth-account imports py_ecc, which raises Python's recursion limit to 100000: ``json.loads`` on
deeply nested input then overflows the C stack (a segfault) instead of raising RecursionError.
Every decoder of network JSON calls ``check_depth`` first.
"""

from __future__ import annotations

import re

_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class TooDeep(ValueError):
    """The JSON nests deeper than the caller allows."""


def check_depth(data: bytes, max_depth: int) -> None:
    brackets = _STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > max_depth:
            raise TooDeep(f"JSON nests deeper than {max_depth}")
