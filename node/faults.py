"""Crash points: named places where a node kills itself with SIGKILL, for fault-injection tests.

``LORASWARM_CRASH_AT`` lists point names separated by commas (for example
``sent:commit:0,sealed:1``). A point not listed costs one environment lookup. The kill is the same
``kill -9`` an operator or the OOM killer delivers, but lands exactly at a phase boundary, which an
outside signal can only hit by luck: after a transaction is broadcast and before its receipt,
in the middle of a blob transfer, between sealing and opening an attestation.
"""

from __future__ import annotations

import logging
import os
import signal

CRASH_ENV = "LORASWARM_CRASH_AT"

logger = logging.getLogger(__name__)


def crash_point(name: str) -> None:
    """SIGKILL this process here if ``name`` is listed in LORASWARM_CRASH_AT."""
    listed = os.environ.get(CRASH_ENV)
    if listed and name in listed.split(","):
        logger.warning("crash point %s reached: SIGKILL", name)
        logging.shutdown()  # the log line is the test's evidence of where the node died
        os.kill(os.getpid(), signal.SIGKILL)
