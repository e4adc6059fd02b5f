"""Build and operations helpers: Solidity compile, local chains, deployment."""
