"""Search: queries against the index, ranked and filtered through the catalog."""
