"""Fuzzing the deployment decoder with 1,000 hostile inputs (see fuzzing.py for the property)."""

from tests.reliability.fuzzing import TARGETS, run

CASES = 1000


def test_deployment_decoder_only_raises_typed_errors() -> None:
    assert run(TARGETS["deployment"], CASES) == CASES
