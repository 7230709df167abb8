"""Small helpers for the entry points: config resolvers, instantiation, run-dir bookkeeping."""
