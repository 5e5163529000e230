"""FAISS indexes, their persistence, and the SQL catalog of images."""
