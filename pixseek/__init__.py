"""pixseek: multimodal image retrieval over image buckets (shared core)."""

__version__ = "0.1.0"
