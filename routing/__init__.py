"""Which model answers: task classifier, policy, strategies, provider calls, cache, budgets."""
