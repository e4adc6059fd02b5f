"""The peer node: p2p transport, training, chain client, state and the daemon that wires them."""
