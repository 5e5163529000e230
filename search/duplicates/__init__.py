"""Duplicate detection: exact, near and similar groups, a keeper each, decisions that stick."""
