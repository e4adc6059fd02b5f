"""Contribution scores, reward split, Merkle reward and slash trees, economics simulation."""
