"""Search latency and recall at 10k, 100k and 1M vectors, in process and over HTTP."""
