"""A node's jobs in a round, each a class the round loop calls: trainer, validator, settlement."""
