"""Benchmarks: `python -m bench.ingest` and `python -m bench.search` (outputs under bench/out/)."""
