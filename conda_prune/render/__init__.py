"""Presentation: rich tables and trees, and the JSON views built from the same results."""
