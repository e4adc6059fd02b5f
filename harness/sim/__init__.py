"""Economics simulation: many rounds of peers with honest, free-riding and attacking strategies,
driving the real contracts on a local chain, to show who profits."""
