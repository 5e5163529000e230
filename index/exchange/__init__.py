"""Embeddings and metadata in and out, in clip-retrieval's layout (`pixseek export`, `pixseek import`)."""
