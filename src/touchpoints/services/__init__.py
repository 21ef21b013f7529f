"""Use cases: async functions that take ports as parameters and apply the domain's rules."""
