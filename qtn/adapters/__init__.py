"""qtn.adapters."""
