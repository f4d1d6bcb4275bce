"""qtn.train."""
