"""qtn.tn."""
