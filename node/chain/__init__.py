"""The node's chain client: signing, nonces, retries, receipts, revert decoding, event reads."""
