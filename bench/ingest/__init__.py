"""Ingest throughput: pixseek end to end vs a plain open_clip loop vs the model alone."""
