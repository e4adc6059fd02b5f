"""Test and benchmark harness: attack library, simulations, test peers, chain time travel.

Not part of the installed package: tests and benchmarks import it from the source tree."""
