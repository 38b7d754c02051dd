"""Benchmarks: recorder overhead, reader speed, memory, freshness and accuracy."""
