"""Generated scenes and the offline demo: meaningful results without downloading anything."""
