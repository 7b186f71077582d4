"""Reproducible benchmarks: each scenario measures itself against a baseline run in the same process."""
