"""Vector indexes and their files, rebuilt from the catalog at will.

FAISS index generations (`store.py`, built by `writer.py`, chosen by `factory.py`), their
manifests, the patch store (`patch_store.py`) and the patch index kept in line with it.
"""
