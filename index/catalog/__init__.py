"""The SQL catalog, pixseek's source of truth.

Images and their CLS vectors, jobs, task leases, duplicate tables, tags and their vocabulary,
text read in images, the keyword index and thumbnails. Nothing here touches FAISS.
"""
