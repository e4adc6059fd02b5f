"""``loraswarm demo``: a whole local network (chain, contracts, task, peer processes) in one command."""
