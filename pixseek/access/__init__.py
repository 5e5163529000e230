"""What the API may reach: the buckets it may ingest."""
