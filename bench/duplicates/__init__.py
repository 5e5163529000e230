"""Duplicate-detection benchmarks: quality on edited photos (`python -m bench.duplicates`), scale."""
