"""Curating a collection from its CLS vectors: diverse subsets, typical and unusual images,
clusters, leak-free splits, each saved as a selection search can filter on."""
