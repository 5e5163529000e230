"""Ingest: bucket sources, decoding, embedding, and the Celery tasks that run them."""
