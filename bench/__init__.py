"""Benchmarks: each runs from one command and prints the figures docs/benchmarks.md quotes.

Each also takes `--smoke` (bench/common.py): seconds on a handful of inputs with the tiny
model, which tests/bench/test_smoke.py runs so that a broken benchmark fails the suite.
"""
