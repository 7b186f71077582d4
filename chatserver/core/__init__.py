"""The hub's core: use-cases, fan-out and recovery; no HTTP, no SQL."""
