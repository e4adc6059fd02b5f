"""Library code for EVM chains: compile the contracts, deploy them, start local chains, create tasks."""
