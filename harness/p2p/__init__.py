"""Standalone p2p test peers (one process each) and the code that drives them."""
