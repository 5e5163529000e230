"""Benchmarks: each runs from one command and prints the figures docs/benchmarks.md quotes."""
