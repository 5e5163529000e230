"""Training the tiny scenes CLIP (see docs/tiny-model.md)."""
