"""qtn.data."""
